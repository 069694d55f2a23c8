/* berth-init: the plan executor as a program of its own (CVE-2019-5736).
 *
 * The runtime's child begins as a copy of the Node process, whose /proc/PID/exe is the host's node
 * binary. A process in the container that opened that link (while the child entered the container,
 * or by exec'ing a script whose interpreter is "#!/proc/self/exe") could later write the host's
 * node, and the next berth command would run its code as root on the host. So the child execs this
 * small static program at once, from a sealed memfd copy (native/addon.c), before it joins or makes
 * any of the container's namespaces: from then on /proc/PID/exe is a file nobody can write, and no
 * file of the host is mapped in the process. It is made non-dumpable first thing, so that until the
 * container's own program is exec'd nothing in the container can open its /proc files at all.
 *
 * Usage (by the addon only): berth-init PLAN_FD STATUS_FD SYNC_FD. Anything else, such as a
 * container exec'ing its /proc/self/exe, gets one line on stderr and exit status 127. */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd_arg(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 0 || v > 65535) return -1;
  return fcntl((int)v, F_GETFD) < 0 ? -1 : (int)v;
}

static void report(int status_fd, int err) {
  struct child_msg m = {MSG_ERROR, -1, err, 0};
  ssize_t n;
  do n = write(status_fd, &m, sizeof m);
  while (n < 0 && errno == EINTR);
}

/* Reads the whole plan from its memfd. */
static char *read_plan(int fd, size_t *len) {
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size <= 0) return NULL;
  char *buf = malloc((size_t)st.st_size);
  if (!buf) return NULL;
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      free(buf);
      return NULL;
    }
    got += (size_t)n;
  }
  *len = got;
  return buf;
}

int main(int argc, char **argv) {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NAME, "berth-init", 0, 0, 0);
  int plan_fd = argc == 4 ? fd_arg(argv[1]) : -1;
  int status_fd = argc == 4 ? fd_arg(argv[2]) : -1;
  int sync_fd = argc == 4 ? fd_arg(argv[3]) : -1;
  if (plan_fd < 0 || status_fd < 0 || sync_fd < 0) {
    fputs("berth-init: the init of berth's containers; it runs only when berth starts a process\n", stderr);
    return 127;
  }
  size_t len = 0;
  char *buf = read_plan(plan_fd, &len);
  struct plan p;
  if (!buf || plan_parse(buf, len, &p)) {
    report(status_fd, EINVAL);
    return 1;
  }
  free(buf);
  close(plan_fd);
  /* The addon cleared close-on-exec on what this program needed; the container's program gets only
   * its stdio: the status pipe closing at that execve is how the runtime learns the exec happened. */
  int inherited[2 + PLAN_MAX_KEEP_FDS];
  int n = 0;
  inherited[n++] = status_fd;
  inherited[n++] = sync_fd;
  for (int k = 0; k < p.nkeep; k++) inherited[n++] = p.keep[k];
  for (int k = 0; k < n; k++) {
    if (fcntl(inherited[k], F_SETFD, FD_CLOEXEC) < 0) {
      report(status_fd, errno);
      return 1;
    }
  }
  child_run(&p, status_fd, sync_fd);
}
