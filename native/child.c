/* The plan executor: runs in berth-init (native/init.c), the program the runtime's child execs right
 * after clone. It allocates nothing once the plan is parsed, uses no stdio and no libc wrapper that
 * talks to other threads (setuid and friends: raw syscalls), so that it stays safe to run in a copy
 * of a multithreaded process as well. Every failure is reported as {step, errno} on the status
 * pipe, then the process _exits. This file runs the steps and those of the process itself
 * (namespaces, ids, capabilities, seccomp, the console, exec); child-root.c those of its root. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static int sync_fd = -1;
static int setns_fds[PLAN_MAX_STEPS];

/* Scratch space; the child is single-threaded, so static buffers are safe. */
static char exec_buf[PATH_MAX];
static char cwd_buf[PATH_MAX];

static void find_and_exec(const struct plan_step *st, int probe);

/* A sysctl or another procfs file (oom_score_adj), written through the private procfs, never by a
 * path of the container's, which may lead anywhere by now (CVE-2025-52881, CVE-2019-19921). */
static void do_write_proc(const struct plan_step *st) {
  int fd = open_proc_file(st->s[0], O_WRONLY);
  if (fd < 0) fail(-fd);
  write_all(fd, st->s[1], str_len(st->s[1]));
  close(fd);
}

static void do_rlimit(const struct plan_step *st) {
  struct rlimit64 {
    uint64_t cur, max;
  } rl = {(uint64_t)st->i[1], (uint64_t)st->i[2]};
  check(syscall(SYS_prlimit64, 0, (int)st->i[0], &rl, NULL));
}

static void send_fd(int sock, int fd) {
  char byte = 'p';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail(errno);
}

/* With a terminal, /dev/console is the pty (runtime-spec): the slave bound onto a file of the
 * container's /dev. That /dev is opened through no symlink inside the root, /dev/console in it by
 * name without following one (made when missing) and bound by fd: a symlink there, the image's or
 * one swapped in, fails the start instead of taking the bind elsewhere (CVE-2025-52565). */
static void bind_dev_console(int slave) {
  struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int dev = (int)syscall(SYS_openat2, root_fd, "dev", &how, sizeof how);
  if (dev < 0) fail_part(errno, PART_DEV_CONSOLE);
  int fd = openat(dev, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    int made = openat(dev, "console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (made >= 0) close(made);
    else if (errno != EEXIST) fail_part(errno, PART_DEV_CONSOLE);
    fd = openat(dev, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) fail_part(errno, PART_DEV_CONSOLE);
  struct stat sb;
  if (fstat(fd, &sb) < 0) fail_part(errno, PART_DEV_CONSOLE);
  if (S_ISLNK(sb.st_mode)) fail_part(ELOOP, PART_DEV_CONSOLE);
  if (!S_ISREG(sb.st_mode) && !S_ISCHR(sb.st_mode)) fail_part(ENODEV, PART_DEV_CONSOLE);
  if (mount(mount_path(1, slave), mount_path(0, fd), NULL, MS_BIND, NULL) < 0) fail_part(errno, PART_DEV_CONSOLE);
  end_fd_paths();
  close(fd);
  close(dev);
}

static void do_console(const struct plan_step *st) {
  int sock = (int)st->i[0];
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail(errno);
  int unlock = 0;
  check(ioctl(master, TIOCSPTLCK, &unlock));
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) fail(errno);
  if (st->i[1] > 0 && st->i[2] > 0) {
    struct winsize ws = {.ws_row = (unsigned short)st->i[1], .ws_col = (unsigned short)st->i[2]};
    check(ioctl(slave, TIOCSWINSZ, &ws));
  }
  if (st->i[3]) bind_dev_console(slave);
  send_fd(sock, master);
  close(master);
  close(sock);
  for (int k = 0; k < 3; k++) check(dup2(slave, k));
  if (slave > 2) close(slave);
  if (setsid() < 0 && errno != EPERM) fail(errno);
  check(ioctl(0, TIOCSCTTY, 0));
}

/* The exec step (at `exec_index`) is checked first, so that a missing program is reported by create,
 * not lost after start; a failure of that check is reported as the exec step's, naming the program. */
static void do_exec_fifo(const struct plan_step *st, const struct plan_step *exec_step, int exec_index) {
  int path_fd = (int)st->i[0];
  if (exec_step->op != OP_EXEC) fail(EINVAL);
  int fifo_step = current_step;
  current_step = exec_index;
  find_and_exec(exec_step, 1);
  current_step = fifo_step;
  /* Opened without blocking first, so that a FIFO this process may not write is create's failure,
   * reported before READY, not a silent exit after it: the kernel checks the permission, then says
   * ENXIO while no start has it open for reading. */
  int fd = open(fd_path(0, path_fd), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno != ENXIO) fail(errno);
  send_msg(MSG_READY, 0, 0);
  while (fd < 0) {
    fd = open(fd_path(0, path_fd), O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno != EINTR) fail(errno);
  }
  write_all(fd, "0", 1);
  close(fd);
  close(path_fd);
}

static void do_bounding(const struct plan_step *st) {
  uint64_t keep = (uint64_t)st->i[0];
  for (int cap = 0; cap <= (int)st->i[1] && cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) fail(errno);
  }
}

static void do_capset(const struct plan_step *st) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  uint64_t e = (uint64_t)st->i[0], p = (uint64_t)st->i[1], inh = (uint64_t)st->i[2];
  for (int k = 0; k < 2; k++) {
    data[k].effective = (uint32_t)(e >> (32 * k));
    data[k].permitted = (uint32_t)(p >> (32 * k));
    data[k].inheritable = (uint32_t)(inh >> (32 * k));
  }
  check(syscall(SYS_capset, &hdr, data));
}

static void do_ambient(const struct plan_step *st) {
  uint64_t caps = (uint64_t)st->i[0];
  check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
  for (int cap = 0; cap < 64; cap++)
    if (caps & (1ULL << cap)) check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
}

/* Loads the BPF program compiled in the parent (libseccomp, src/runtime/seccomp.ts): from here on
 * every syscall of this process and of what it execs goes through it. With a notify listener
 * (SECCOMP_FILTER_FLAG_NEW_LISTENER) its fd goes to the parent, which hands it to the seccomp agent
 * during the pause that follows; the fd is close-on-exec, so it is not closed here (a close could
 * itself be a notified syscall, waiting for an agent that does not have the fd yet). */
static void do_seccomp(const struct plan_step *st) {
  struct sock_fprog prog = {.len = (unsigned short)(st->blob_len / sizeof(struct sock_filter)),
                            .filter = (struct sock_filter *)st->blob};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)st->i[SECCOMP_FLAGS], &prog);
  if (fd < 0) fail(errno);
  if (st->i[SECCOMP_FLAGS] & SECCOMP_FILTER_FLAG_NEW_LISTENER) send_fd((int)st->i[SECCOMP_LISTENER_SOCKET], (int)fd);
}

static void do_chdir(const struct plan_step *st) {
  check(chdir(st->s[0]));
  /* The kernel prefixes a cwd outside our root with "(unreachable)": refuse it. */
  long n = syscall(SYS_getcwd, cwd_buf, sizeof cwd_buf);
  if (n < 0) fail(errno);
  if (cwd_buf[0] != '/') fail(ENOENT);
}

/* Tries one candidate path: execve it, or (probe) only check that execve would find it. */
static int try_exec(const char *path, const struct plan_step *st, int probe) {
  if (!probe) {
    execve(path, st->list0, st->list1);
    return errno;
  }
  struct stat sb;
  if (stat(path, &sb) < 0) return errno;
  if (!S_ISREG(sb.st_mode) || access(path, X_OK) < 0) return EACCES;
  return 0;
}

/* execvpe's search, without its allocations: the first EACCES is kept, as the shell reports it.
 * With `probe`, returns 0 when the program would be found; otherwise it execs or fails. */
static void find_and_exec(const struct plan_step *st, int probe) {
  const char *file = st->list0[0];
  if (strchr(file, '/')) {
    int e = try_exec(file, st, probe);
    if (e) fail(e);
    return;
  }
  int err = ENOENT;
  size_t flen = str_len(file);
  const char *p = st->s[2] ? st->s[2] : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (;;) {
    const char *colon = strchr(p, ':');
    size_t dlen = colon ? (size_t)(colon - p) : str_len(p);
    if (dlen + flen + 2 <= sizeof exec_buf) {
      size_t at = 0;
      if (dlen == 0) exec_buf[at++] = '.';
      memcpy(exec_buf + at, p, dlen);
      at += dlen;
      exec_buf[at++] = '/';
      memcpy(exec_buf + at, file, flen + 1);
      int e = try_exec(exec_buf, st, probe);
      if (e == 0) return;
      if (e == EACCES) err = EACCES;
      else if (e != ENOENT && e != ENOTDIR && err != EACCES) err = e;
    }
    if (!colon) break;
    p = colon + 1;
  }
  fail(err);
}

/* `ip link set lo up` in a new network namespace, as runc does: its loopback starts down. */
static void do_loopback_up(void) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) fail(errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  check(ioctl(sock, SIOCGIFFLAGS, &ifr));
  ifr.ifr_flags |= IFF_UP;
  check(ioctl(sock, SIOCSIFFLAGS, &ifr));
  close(sock);
}

static void do_sync(const struct plan_step *st) {
  send_msg(MSG_SYNC, 0, (int)st->i[0]);
  char go;
  ssize_t n;
  do n = read(sync_fd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1); /* the parent gave up on us */
}

static void do_fork_into_pidns(void) {
  long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) fail(errno);
  if (pid > 0) {
    send_msg(MSG_PID, 0, (int)pid);
    _exit(0);
  }
}

/* stdio to 0-2, then every other fd closed but ours: Node's own fds never reach the container. */
static void setup_fds(const struct plan *p) {
  int high[3];
  for (int k = 0; k < 3; k++) {
    high[k] = fcntl(p->stdio[k], F_DUPFD_CLOEXEC, 3);
    if (high[k] < 0) fail(errno);
  }
  for (int k = 0; k < 3; k++) {
    if (dup2(high[k], k) < 0) fail(errno);
  }
  int keep[PLAN_MAX_KEEP_FDS + 3];
  int n = 0;
  keep[n++] = status_fd;
  keep[n++] = sync_fd;
  for (int k = 0; k < p->nkeep; k++) keep[n++] = p->keep[k];
  for (int a = 1; a < n; a++) /* insertion sort: a handful of fds */
    for (int b = a; b > 0 && keep[b - 1] > keep[b]; b--) {
      int t = keep[b];
      keep[b] = keep[b - 1];
      keep[b - 1] = t;
    }
  unsigned int from = 3;
  for (int k = 0; k < n; k++) {
    if (keep[k] < 3) continue;
    if ((unsigned)keep[k] > from) syscall(SYS_close_range, from, (unsigned)keep[k] - 1, 0);
    from = (unsigned)keep[k] + 1;
  }
  syscall(SYS_close_range, from, ~0U, 0);
}

static void reset_signals(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < _NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, NULL); /* fails harmlessly for the signals glibc reserves */
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

void child_run(const struct plan *p, int status, int sync) {
  status_fd = status;
  sync_fd = sync;
  reset_signals();
  setup_fds(p);
  umask(0); /* device nodes get exactly the modes the plan gives; the process's umask is a later step */

  /* nsfs paths are only meaningful before the first setns changes what /proc shows: open them all now. */
  for (int n = 0; n < p->nsteps; n++) {
    if (p->steps[n].op != OP_SETNS) continue;
    current_step = n;
    setns_fds[n] = open(p->steps[n].s[0], O_RDONLY | O_CLOEXEC);
    if (setns_fds[n] < 0) fail(errno);
  }

  for (int n = 0; n < p->nsteps; n++) {
    const struct plan_step *st = &p->steps[n];
    current_step = n;
    switch (st->op) {
      case OP_SETNS:
        check(setns(setns_fds[n], (int)st->i[0]));
        close(setns_fds[n]);
        break;
      case OP_UNSHARE: check(unshare((int)st->i[0])); break;
      case OP_LOOPBACK_UP: do_loopback_up(); break;
      case OP_FORK_INTO_PIDNS: do_fork_into_pidns(); break;
      case OP_SYNC: do_sync(st); break;
      case OP_OPEN_ROOT:
        root_fd = open(st->s[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) fail(errno);
        break;
      case OP_MOUNT: do_mount(st); break;
      case OP_MASK: do_mask(st); break;
      case OP_MKNOD: do_mknod(st); break;
      case OP_SYMLINK: do_symlink(st); break;
      case OP_PIVOT_ROOT: do_pivot_root(); break;
      case OP_MOVE_ROOT: do_move_root(); break;
      case OP_CHROOT: do_chroot(); break;
      case OP_WRITE_PROC: do_write_proc(st); break;
      case OP_SETHOSTNAME: check(sethostname(st->s[0], str_len(st->s[0]))); break;
      case OP_SETDOMAINNAME: check(setdomainname(st->s[0], str_len(st->s[0]))); break;
      case OP_RLIMIT: do_rlimit(st); break;
      case OP_SETSID:
        if (setsid() < 0 && errno != EPERM) fail(errno);
        break;
      case OP_CONSOLE: do_console(st); break;
      case OP_EXEC_FIFO: do_exec_fifo(st, &p->steps[p->nsteps - 1], p->nsteps - 1); break;
      case OP_BOUNDING: do_bounding(st); break;
      case OP_KEEP_CAPS: check(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)); break;
      case OP_SETGROUPS: check(syscall(SYS_setgroups, (size_t)st->i[0], st->gids)); break;
      case OP_SETGID: check(syscall(SYS_setresgid, (gid_t)st->i[0], (gid_t)st->i[0], (gid_t)st->i[0])); break;
      case OP_SETUID: check(syscall(SYS_setresuid, (uid_t)st->i[0], (uid_t)st->i[0], (uid_t)st->i[0])); break;
      case OP_CAPSET: do_capset(st); break;
      case OP_AMBIENT: do_ambient(st); break;
      case OP_NO_NEW_PRIVS: check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)); break;
      case OP_UMASK: umask((mode_t)st->i[0]); break;
      case OP_CHDIR: do_chdir(st); break;
      case OP_SECCOMP: do_seccomp(st); break;
      case OP_EXEC:
        find_and_exec(st, 0);
        fail(EINVAL); /* find_and_exec returns only when probing */
      default: fail(EINVAL);
    }
  }
  current_step = p->nsteps;
  fail(EINVAL); /* a plan must end in exec */
}
