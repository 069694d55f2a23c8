/* seccomp filters compiled with libseccomp, in the parent, before any clone. Every rule is decided
 * in TypeScript (src/runtime/seccomp.ts); this file only hands them to the library and returns the
 * BPF program it generates. The child loads that program as it is (native/child.c, do_seccomp). */
#include "syscalls.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_WORDS (1u << 20)

#define ARGS(n)       \
  size_t argc = n;    \
  napi_value argv[n]; \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

/* A cursor over the request's little-endian u64 words; running past the end is an error. */
struct words {
  const uint64_t *w;
  size_t n, at;
  int short_read;
};

static uint64_t next_word(struct words *r) {
  if (r->at >= r->n) {
    r->short_read = 1;
    return 0;
  }
  return r->w[r->at++];
}

/* Throws a libseccomp failure (a negative errno) naming the call and, when >= 0, the rule. */
static napi_value throw_seccomp(napi_env env, int rc, const char *call, int64_t rule) {
  throw_errno(env, -rc, call, NULL);
  if (rule >= 0) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_set_named_property(env, exc, "rule", make_int(env, rule));
    napi_throw(env, exc);
  }
  return NULL;
}

/* The program libseccomp generated, read back from the memfd it was exported into (2.5 exports
 * only to an fd). */
static napi_value export_program(napi_env env, scmp_filter_ctx ctx) {
  int fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "memfd_create", NULL);
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) {
    close(fd);
    return throw_seccomp(env, rc, "seccomp_export_bpf", -1);
  }
  off_t size = lseek(fd, 0, SEEK_END);
  void *data;
  napi_value out;
  if (size < 0 || napi_create_buffer(env, (size_t)size, &data, &out) != napi_ok) {
    close(fd);
    return throw_errno(env, size < 0 ? errno : ENOMEM, "seccomp_export_bpf", NULL);
  }
  for (off_t done = 0; done < size;) {
    ssize_t n = pread(fd, (char *)data + done, (size_t)(size - done), done);
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      return throw_errno(env, err, "read", "the exported seccomp program");
    }
    done += n;
  }
  close(fd);
  return out;
}

/* seccompCompile(request) -> Buffer of BPF instructions. The request (src/kernel/seccomp.ts):
 *   [defaultAction, optimize, nArchs, arch..., nRules,
 *    per rule: syscall (signed), action, nArgs, per arg: index, op, datumA, datumB]
 * A failing rule throws with `rule` set to its position in the request. */
static napi_value js_seccomp_compile(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *data;
  size_t len;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || len % 8 != 0 || len / 8 > MAX_WORDS) {
    napi_throw_type_error(env, NULL, "seccompCompile: expected the encoded request (a Buffer of u64 words)");
    return NULL;
  }
  /* A copy: the Buffer's bytes need not be 8-byte aligned. */
  uint64_t *copy = malloc(len ? len : 8);
  if (!copy) return throw_errno(env, ENOMEM, "seccompCompile", NULL);
  memcpy(copy, data, len);
  struct words r = {copy, len / 8, 0, 0};

  scmp_filter_ctx ctx = seccomp_init((uint32_t)next_word(&r));
  napi_value result = NULL;
  if (!ctx) {
    throw_errno(env, EINVAL, "seccomp_init", NULL);
    goto out;
  }
  int rc;
  if (next_word(&r) && (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0) {
    throw_seccomp(env, rc, "seccomp_attr_set optimize", -1);
    goto out;
  }
  uint64_t narchs = next_word(&r);
  for (uint64_t k = 0; k < narchs && !r.short_read; k++) {
    rc = seccomp_arch_add(ctx, (uint32_t)next_word(&r));
    if (rc < 0 && rc != -EEXIST) {
      throw_seccomp(env, rc, "seccomp_arch_add", -1);
      goto out;
    }
  }
  uint64_t nrules = next_word(&r);
  for (uint64_t k = 0; k < nrules && !r.short_read; k++) {
    int syscall_nr = (int)(int64_t)next_word(&r);
    uint32_t action = (uint32_t)next_word(&r);
    uint64_t nargs = next_word(&r);
    struct scmp_arg_cmp args[6];
    if (nargs > 6) {
      throw_seccomp(env, -EINVAL, "seccomp_rule_add", (int64_t)k);
      goto out;
    }
    for (uint64_t a = 0; a < nargs; a++) {
      args[a].arg = (unsigned)next_word(&r);
      args[a].op = (enum scmp_compare)next_word(&r);
      args[a].datum_a = next_word(&r);
      args[a].datum_b = next_word(&r);
    }
    if (r.short_read) break;
    rc = seccomp_rule_add_array(ctx, action, syscall_nr, (unsigned)nargs, args);
    if (rc < 0) {
      throw_seccomp(env, rc, "seccomp_rule_add", (int64_t)k);
      goto out;
    }
  }
  if (r.short_read || r.at != r.n) {
    napi_throw_error(env, "EINVAL", "seccompCompile: the request is truncated or has trailing words");
    goto out;
  }
  result = export_program(env, ctx);
out:
  if (ctx) seccomp_release(ctx);
  free(copy);
  return result;
}

/* seccompSyscalls(names) -> numbers for this architecture, null where libseccomp knows no such
 * syscall. Pseudo-syscalls of other architectures come back negative; the library maps them. */
static napi_value js_seccomp_syscalls(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint32_t n = 0;
  if (argc < 1 || napi_get_array_length(env, argv[0], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "seccompSyscalls: expected an array of names");
    return NULL;
  }
  napi_value out, null_value;
  napi_create_array_with_length(env, n, &out);
  napi_get_null(env, &null_value);
  char name[128];
  for (uint32_t k = 0; k < n; k++) {
    napi_value item;
    napi_get_element(env, argv[0], k, &item);
    const char *s = arg_str(env, item, name, sizeof name);
    int nr = s ? seccomp_syscall_resolve_name(s) : __NR_SCMP_ERROR;
    napi_set_element(env, out, k, nr == __NR_SCMP_ERROR ? null_value : make_int(env, nr));
  }
  return out;
}

/* seccompArch(name) -> libseccomp's token for an architecture name ("x86_64"), 0 when unknown;
 * seccompArch() -> the native architecture's token. */
static napi_value js_seccomp_arch(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[64];
  const char *s = argc >= 1 ? arg_str(env, argv[0], name, sizeof name) : NULL;
  return make_int(env, s ? seccomp_arch_resolve_name(s) : seccomp_arch_native());
}

/* seccompVersion() -> "2.5.4", the libseccomp this addon runs with. */
static napi_value js_seccomp_version(napi_env env, napi_callback_info info) {
  const struct scmp_version *v = seccomp_version();
  char text[48];
  snprintf(text, sizeof text, "%u.%u.%u", v->major, v->minor, v->micro);
  napi_value out;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* seccompFlagsSupported(flags) -> whether this kernel takes these SECCOMP_SET_MODE_FILTER flags.
 * With no program the kernel checks the flags, then fails to read the program (EFAULT): nothing
 * is loaded either way. */
static napi_value js_seccomp_flags_supported(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t flags = 0;
  arg_int(env, argv[0], &flags);
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)flags, NULL);
  napi_value out;
  napi_get_boolean(env, rc < 0 && errno == EFAULT, &out);
  return out;
}

void register_seccomp(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"seccompCompile", NULL, js_seccomp_compile, NULL, NULL, NULL, napi_default, NULL},
      {"seccompSyscalls", NULL, js_seccomp_syscalls, NULL, NULL, NULL, napi_default, NULL},
      {"seccompArch", NULL, js_seccomp_arch, NULL, NULL, NULL, napi_default, NULL},
      {"seccompVersion", NULL, js_seccomp_version, NULL, NULL, NULL, napi_default, NULL},
      {"seccompFlagsSupported", NULL, js_seccomp_flags_supported, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
