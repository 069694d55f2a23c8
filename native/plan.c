/* Parsing the encoded plan: in the addon, to refuse a malformed plan before anything is cloned, and
 * in berth-init, before its first step, so that every allocation the executor needs happens here. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

static int64_t read_i64(const char *at) {
  int64_t v;
  memcpy(&v, at, sizeof v);
  return v;
}

static int32_t read_i32(const char *at) {
  int32_t v;
  memcpy(&v, at, sizeof v);
  return v;
}

/* A string slot: an offset into the buffer, or -1. The string must end inside the buffer. */
static const char *string_at(const char *buf, size_t len, int32_t off, const char **err) {
  if (off < 0) return NULL;
  if ((size_t)off >= len || memchr(buf + off, 0, len - off) == NULL) {
    *err = "plan: string offset out of range";
    return NULL;
  }
  return buf + off;
}

/* A binary slot: `len` bytes at `off`, wholly inside the buffer and 8-byte aligned (a BPF program
 * is read in place as an array of struct sock_filter). */
static const void *blob_at(const char *buf, size_t len, int64_t off, int64_t size, const char **err) {
  if (off < 0 || size < 0 || (size_t)off > len || (size_t)size > len - (size_t)off || off % 8 != 0) {
    *err = "plan: binary slot out of range";
    return NULL;
  }
  return buf + off;
}

static int op_has_blob(int64_t op) { return op == OP_SECCOMP; }

/* Splits a NUL-joined list of `count` items into a NULL-terminated array. */
static char **split_list(const char *s, int64_t count, const char *end, const char **err) {
  if (count < 0 || count > PLAN_MAX_LIST) {
    *err = "plan: list too long";
    return NULL;
  }
  char **items = calloc((size_t)count + 1, sizeof *items);
  if (!items) {
    *err = "plan: out of memory";
    return NULL;
  }
  const char *p = s;
  for (int64_t k = 0; k < count; k++) {
    if (!p || p >= end) {
      free(items);
      *err = "plan: list shorter than its count";
      return NULL;
    }
    items[k] = (char *)p;
    p += strlen(p) + 1;
  }
  return items;
}

const char *plan_parse(const void *data, size_t len, struct plan *out) {
  const char *err = NULL;
  memset(out, 0, sizeof *out);
  if (len < PLAN_HEADER_BYTES) return "plan: too short";
  char *buf = malloc(len);
  if (!buf) return "plan: out of memory";
  memcpy(buf, data, len);
  out->buffer = buf;
  const char *end = buf + len;

  if (read_i64(buf) != PLAN_MAGIC || read_i64(buf + 8) != PLAN_VERSION) return "plan: bad magic or version";
  int64_t nsteps = read_i64(buf + 16);
  if (nsteps < 0 || nsteps > PLAN_MAX_STEPS) return "plan: bad step count";
  if ((size_t)(PLAN_HEADER_BYTES + nsteps * PLAN_STEP_BYTES) > len) return "plan: truncated";
  out->clone_flags = read_i64(buf + 24);
  for (int k = 0; k < 3; k++) out->stdio[k] = (int)read_i64(buf + 32 + 8 * k);

  /* The kept fds: one string, comma-separated ("5,7"). */
  const char *keep = string_at(buf, len, (int32_t)read_i64(buf + 56), &err);
  if (err) return err;
  while (keep && *keep) {
    if (out->nkeep == PLAN_MAX_KEEP_FDS) return "plan: too many kept fds";
    char *next;
    out->keep[out->nkeep++] = (int)strtol(keep, &next, 10);
    if (next == keep) return "plan: bad kept fd list";
    keep = *next == ',' ? next + 1 : next;
  }

  out->steps = calloc((size_t)nsteps, sizeof *out->steps);
  if (nsteps && !out->steps) return "plan: out of memory";
  out->nsteps = (int)nsteps;
  for (int64_t n = 0; n < nsteps; n++) {
    const char *at = buf + PLAN_HEADER_BYTES + n * PLAN_STEP_BYTES;
    struct plan_step *st = &out->steps[n];
    st->op = read_i64(at);
    for (int k = 0; k < 7; k++) st->i[k] = read_i64(at + 8 + 8 * k);
    for (int k = 0; k < 4; k++) {
      st->s[k] = string_at(buf, len, read_i32(at + 64 + 4 * k), &err);
      if (err) return err;
    }
    if (op_has_blob(st->op)) {
      st->blob = blob_at(buf, len, st->i[BLOB_OFFSET], st->i[BLOB_LENGTH], &err);
      if (err) return err;
      st->blob_len = (size_t)st->i[BLOB_LENGTH];
    }
    if (st->op == OP_SECCOMP) {
      if (st->blob_len == 0 || st->blob_len % 8 != 0 || st->blob_len / 8 > PLAN_MAX_BPF_INSNS)
        return "plan: a seccomp program must be 1 to 4096 instructions of 8 bytes";
    }
    if (st->op == OP_EXEC) {
      if (!st->s[0] || st->i[0] < 1) return "plan: exec without argv";
      st->list0 = split_list(st->s[0], st->i[0], end, &err);
      if (err) return err;
      st->list1 = split_list(st->s[1] ? st->s[1] : "", st->i[1], end, &err);
      if (err) return err;
    } else if (st->op == OP_SETGROUPS) {
      char **names = split_list(st->s[0] ? st->s[0] : "", st->i[0], end, &err);
      if (err) return err;
      st->gids = calloc((size_t)st->i[0] + 1, sizeof *st->gids);
      if (!st->gids) {
        free(names);
        return "plan: out of memory";
      }
      for (int64_t k = 0; k < st->i[0]; k++) st->gids[k] = (gid_t)strtoul(names[k], NULL, 10);
      free(names);
    }
  }
  return NULL;
}

void plan_free(struct plan *p) {
  for (int n = 0; p->steps && n < p->nsteps; n++) {
    free(p->steps[n].list0);
    free(p->steps[n].list1);
    free(p->steps[n].gids);
  }
  free(p->steps);
  free(p->buffer);
  memset(p, 0, sizeof *p);
}
