/* A download's writes and their sha256, in the thread pool (issue 17). In a pull, the main thread
 * receives every byte (Node's HTTP parser, the streams); hashing them there as well kept it busy
 * 0.2 s longer for 336 MB. Here one job writes a batch of buffers to the file and adds them to the
 * blob's running sha256, off the event loop; the caller still compares the digest before the blob
 * is named (src/image/blobs.ts). OpenSSL is Node's own (it exports its symbols to addons).
 *
 *   sha256New() -> hash                   an EVP sha256 context, freed with the object
 *   sha256Update(hash, buffer)            adds bytes here, synchronously (a resumed download's prefix)
 *   writevHash(fd, buffers, hash, cb)     thread pool: writes all of buffers (short writes continued)
 *                                         at the file's offset, starts their writeback, then hashes
 *                                         them; cb(errno or 0)
 *   sha256Digest(hash) -> "hex"           the digest of everything added; the hash is then spent
 *
 * A hash takes one job at a time: the caller waits for a writevHash's callback before the next. */
#include "syscalls.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

struct hash {
  EVP_MD_CTX *ctx;
  int busy; /* a job is using it */
  int spent;
};

struct job {
  napi_async_work work;
  napi_ref buffers; /* keeps the buffers alive while the thread pool reads them */
  napi_ref hash_ref;
  napi_ref callback;
  struct hash *hash;
  int fd;
  int err;
  int count;
  struct iovec iov[];
};

static void hash_finalize(napi_env env, void *data, void *hint) {
  struct hash *h = data;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

static struct hash *arg_hash(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* A hash that no job is using and that is not spent; else throws, naming `fn`. */
static int usable(napi_env env, const struct hash *h, const char *fn) {
  if (!h->busy && !h->spent) return 1;
  char text[96];
  snprintf(text, sizeof text, "%s: the hash is %s", fn, h->busy ? "in use by a write" : "spent");
  napi_throw_error(env, NULL, text);
  return 0;
}

static napi_value js_sha256_new(napi_env env, napi_callback_info info) {
  struct hash *h = calloc(1, sizeof *h);
  if (!h) return throw_errno(env, ENOMEM, "sha256New", NULL);
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(h->ctx);
    free(h);
    napi_throw_error(env, NULL, "sha256New: OpenSSL could not make a sha256 context");
    return NULL;
  }
  napi_value ext;
  napi_create_external(env, h, hash_finalize, NULL, &ext);
  return ext;
}

static napi_value js_sha256_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hash *h = argc == 2 ? arg_hash(env, argv[0]) : NULL;
  void *data;
  size_t len;
  if (!h || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "sha256Update(hash, buffer)");
    return NULL;
  }
  if (!usable(env, h, "sha256Update")) return NULL;
  EVP_DigestUpdate(h->ctx, data, len);
  return NULL;
}

static napi_value js_sha256_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hash *h = argc == 1 ? arg_hash(env, argv[0]) : NULL;
  if (!h) {
    napi_throw_type_error(env, NULL, "sha256Digest(hash)");
    return NULL;
  }
  if (!usable(env, h, "sha256Digest")) return NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(h->ctx, md, &n);
  h->spent = 1;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < n; i++) {
    hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
  }
  napi_value out;
  napi_create_string_latin1(env, hex, 2 * n, &out);
  return out;
}

/* Thread pool: the writes, then the hash of what was written. */
static void job_execute(napi_env env, void *data) {
  struct job *j = data;
  struct iovec *iov = j->iov;
  int left = j->count;
  while (left > 0) {
    ssize_t n = writev(j->fd, iov, left > IOV_MAX ? IOV_MAX : left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      j->err = n < 0 ? errno : EIO;
      return;
    }
    while (left > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      left--;
    }
    if (left > 0) {
      /* A short write: the rest of this buffer next (this set of iovecs is consumed; the
       * second, untouched, is what gets hashed). */
      iov->iov_base = (char *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
  /* Writeback of these pages starts now, not all at the blob's fsync: that fsync then waits for
   * little more than the last batch (measured: the pull 0.91x of its time without). This is no
   * durability step (no metadata, no disk cache flush), so its result is not needed: the fsync
   * before the blob is named is what makes it durable, and reports any write error, as before. */
  off_t end = lseek(j->fd, 0, SEEK_CUR);
  size_t total = 0;
  for (int i = 0; i < j->count; i++) total += j->iov[j->count + i].iov_len;
  if (end >= (off_t)total) sync_file_range(j->fd, end - (off_t)total, (off_t)total, SYNC_FILE_RANGE_WRITE);
  for (int i = 0; i < j->count; i++) EVP_DigestUpdate(j->hash->ctx, j->iov[j->count + i].iov_base, j->iov[j->count + i].iov_len);
}

static void job_complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, arg;
  napi_get_reference_value(env, j->callback, &cb);
  napi_create_int32(env, status == napi_cancelled ? ECANCELED : j->err, &arg);
  j->hash->busy = 0;
  napi_delete_reference(env, j->buffers);
  napi_delete_reference(env, j->hash_ref);
  napi_delete_reference(env, j->callback);
  napi_delete_async_work(env, j->work);
  free(j);
  call_back(env, cb, arg);
  napi_close_handle_scope(env, scope);
}

static napi_value js_writev_hash(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd;
  bool is_array = false;
  struct hash *h = argc == 4 ? arg_hash(env, argv[2]) : NULL;
  napi_valuetype cbt = napi_undefined;
  if (argc == 4) napi_typeof(env, argv[3], &cbt);
  if (!h || !arg_int(env, argv[0], &fd) || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || cbt != napi_function) {
    napi_throw_type_error(env, NULL, "writevHash(fd, buffers, hash, callback)");
    return NULL;
  }
  if (!usable(env, h, "writevHash")) return NULL;
  uint32_t count;
  napi_get_array_length(env, argv[1], &count);
  /* Twice the iovecs: the first set is consumed by short writes, the second hashed. */
  struct job *j = calloc(1, sizeof *j + 2 * (size_t)count * sizeof(struct iovec));
  if (!j) return throw_errno(env, ENOMEM, "writevHash", NULL);
  for (uint32_t i = 0; i < count; i++) {
    napi_value b;
    void *p;
    size_t len;
    napi_get_element(env, argv[1], i, &b);
    if (napi_get_buffer_info(env, b, &p, &len) != napi_ok) {
      free(j);
      napi_throw_type_error(env, NULL, "writevHash: buffers must be Buffers");
      return NULL;
    }
    j->iov[i] = (struct iovec){p, len};
    j->iov[count + i] = (struct iovec){p, len};
  }
  j->count = (int)count;
  j->fd = (int)fd;
  j->hash = h;
  napi_create_reference(env, argv[1], 1, &j->buffers);
  napi_create_reference(env, argv[2], 1, &j->hash_ref);
  napi_create_reference(env, argv[3], 1, &j->callback);
  napi_value name;
  napi_create_string_utf8(env, "berth:writevHash", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work);
  h->busy = 1;
  napi_queue_async_work(env, j->work);
  return NULL;
}

void register_digest(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sha256New", NULL, js_sha256_new, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Update", NULL, js_sha256_update, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Digest", NULL, js_sha256_digest, NULL, NULL, NULL, napi_default, NULL},
      {"writevHash", NULL, js_writev_hash, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
