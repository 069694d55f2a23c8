/* The plan executor's status pipe and the small helpers both of its parts use. A failure reports
 * {step, errno} (and the part of the step, where one step does several things) and _exits; no
 * allocation and no stdio, as everywhere in the executor. */
#include "child.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int status_fd = -1;
int current_step = -1;

static char fdpath_buf[2][64];

void send_msg(int type, int err, int value) {
  struct child_msg m = {type, current_step, err, value};
  ssize_t n;
  do n = write(status_fd, &m, sizeof m);
  while (n < 0 && errno == EINTR);
}

void fail(int err) {
  send_msg(MSG_ERROR, err, 0);
  _exit(1);
}

void check(long rc) {
  if (rc < 0) fail(errno);
}

/* A failure of one part of a step (enum step_part): the message then says which. */
void fail_part(int err, int part) {
  send_msg(MSG_ERROR, err, part);
  _exit(1);
}

size_t str_len(const char *s) { return strlen(s); }

/* Writes the decimal digits of `n` and a NUL at `out`; returns the end (the NUL). */
char *put_digits(char *out, unsigned n) {
  char digits[16];
  int k = 0;
  do digits[k++] = (char)('0' + n % 10);
  while ((n /= 10) > 0);
  while (k) *out++ = digits[--k];
  *out = 0;
  return out;
}

/* Writes "/proc/self/fd/N" into one of two small buffers. */
const char *fd_path(int slot, int fd) {
  char *out = fdpath_buf[slot];
  memcpy(out, "/proc/self/fd/", 14);
  put_digits(out + 14, (unsigned)fd);
  return out;
}

void write_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    }
    s += w;
    n -= (size_t)w;
  }
}
