/* The plan executor: runs in berth-init (native/init.c), the program the runtime's child execs right
 * after clone. It allocates nothing once the plan is parsed, uses no stdio and no libc wrapper that
 * talks to other threads (setuid and friends: raw syscalls), so that it stays safe to run in a copy
 * of a multithreaded process as well. Every failure is reported as {step, errno} on the status
 * pipe, then the process _exits. */
#include "plan.h"

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

static int status_fd = -1;
static int sync_fd = -1;
static int root_fd = -1;
static int pivoted; /* after pivot/move/chroot, "/" is the container's root */
static int current_step = -1;
static int setns_fds[PLAN_MAX_STEPS];
static int procfs_fd = -1;   /* the private procfs, opened at first use (private_procfs) */
static int dev_null_fd = -1; /* the container's verified /dev/null, opened at the first mask */

/* Scratch space for path work; the child is single-threaded, so static buffers are safe. */
static char rest_buf[2 * PATH_MAX];
static char next_buf[2 * PATH_MAX];
static char resolved_buf[PATH_MAX];
static char link_buf[PATH_MAX];
static char name_buf[NAME_MAX + 1];
static char proc_path_buf[PATH_MAX];
static char fdpath_buf[2][64];
static char exec_buf[PATH_MAX];

static void find_and_exec(const struct plan_step *st, int probe);

static void send_msg(int type, int err, int value) {
  struct child_msg m = {type, current_step, err, value};
  ssize_t n;
  do n = write(status_fd, &m, sizeof m);
  while (n < 0 && errno == EINTR);
}

static void __attribute__((noreturn)) fail(int err) {
  send_msg(MSG_ERROR, err, 0);
  _exit(1);
}

static void check(long rc) {
  if (rc < 0) fail(errno);
}

/* A failure of one part of a step (enum step_part): the message then says which. */
static void __attribute__((noreturn)) fail_part(int err, int part) {
  send_msg(MSG_ERROR, err, part);
  _exit(1);
}

static size_t str_len(const char *s) { return strlen(s); }

/* Writes the decimal digits of `n` and a NUL at `out`; returns the end (the NUL). */
static char *put_digits(char *out, unsigned n) {
  char digits[16];
  int k = 0;
  do digits[k++] = (char)('0' + n % 10);
  while ((n /= 10) > 0);
  while (k) *out++ = digits[--k];
  *out = 0;
  return out;
}

/* Writes "/proc/self/fd/N" into one of two small buffers. */
static const char *fd_path(int slot, int fd) {
  char *out = fdpath_buf[slot];
  memcpy(out, "/proc/self/fd/", 14);
  put_digits(out + 14, (unsigned)fd);
  return out;
}

/* Moves the walk's directory fd to `fd`, closing the one it held (never the root's own). */
static void hold_dir(int *dir, int fd) {
  if (*dir != root_fd) close(*dir);
  *dir = fd;
}

/* Resolves `path` under the root as if the root were "/": ".." stops at the root, every symlink is
 * read and followed inside it (absolute ones from the root). Missing components are created when
 * `create` asks (directories on the way; the last one a directory or an empty file).
 * Each lookup, mkdir, create and readlink names one component in a directory held open, never a
 * path of several that the kernel would walk again: a directory swapped for a symlink while we
 * walk (CVE-2024-45310, CVE-2021-30465) then can never take a lookup, a mkdir or a create outside
 * the root. resolved_buf holds the symlink-free path so far (".." reopens it from the root, through
 * no symlink). Without `follow`, a symlink anywhere on the way is -ELOOP. Returns an O_PATH fd to
 * the result, or -errno. */
static int resolve_in_root(const char *path, int create, int follow) {
  size_t len = str_len(path);
  if (len >= sizeof rest_buf) return -ENAMETOOLONG;
  memcpy(rest_buf, path, len + 1);
  size_t rlen = 0;
  resolved_buf[0] = 0;
  int links = 0, made = 0, err = 0;
  int dir = root_fd;
  char *rest = rest_buf;

  for (;;) {
    while (*rest == '/') rest++;
    if (!*rest) break;
    char *end = rest;
    while (*end && *end != '/') end++;
    size_t clen = (size_t)(end - rest);
    char *after = end;
    while (*after == '/') after++;
    int last = *after == 0;

    if (clen == 1 && rest[0] == '.') {
      rest = end;
      continue;
    }
    if (clen == 2 && rest[0] == '.' && rest[1] == '.') {
      while (rlen > 0 && resolved_buf[rlen - 1] != '/') rlen--;
      if (rlen > 0) rlen--; /* the slash */
      resolved_buf[rlen] = 0;
      struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                             .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
      int up = (int)syscall(SYS_openat2, root_fd, rlen ? resolved_buf : ".", &how, sizeof how);
      if (up < 0) {
        err = -errno;
        break;
      }
      hold_dir(&dir, up);
      rest = end;
      continue;
    }
    if (clen > NAME_MAX) {
      err = -ENAMETOOLONG;
      break;
    }
    memcpy(name_buf, rest, clen);
    name_buf[clen] = 0;

    int fd = openat(dir, name_buf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT || create == CREATE_NONE) {
        err = -errno;
        break;
      }
      if (++made > PATH_MAX) { /* something deletes what we make, again and again */
        err = -ELOOP;
        break;
      }
      if (!last || create == CREATE_DIR) {
        if (mkdirat(dir, name_buf, 0755) < 0 && errno != EEXIST) err = -errno;
      } else {
        int f = openat(dir, name_buf, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f >= 0) close(f);
        else if (errno != EEXIST) err = -errno;
      }
      if (err) break;
      continue; /* look it up again: what we made, or what a racing process put there instead */
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
      err = -errno;
      close(fd);
      break;
    }
    if (S_ISLNK(st.st_mode)) {
      ssize_t n = !follow || ++links > 40 ? -1 : readlinkat(fd, "", link_buf, sizeof link_buf - 1);
      int e = !follow || links > 40 ? ELOOP : errno;
      close(fd);
      if (n < 0) {
        err = -e;
        break;
      }
      link_buf[n] = 0;
      /* The link replaces its own component: continue with its target, then what remains, from the
       * root (absolute) or from the directory that holds the link. */
      if (link_buf[0] == '/') {
        rlen = 0;
        resolved_buf[0] = 0;
        hold_dir(&dir, root_fd);
      }
      size_t alen = str_len(after);
      if ((size_t)n + 1 + alen + 1 > sizeof next_buf) {
        err = -ENAMETOOLONG;
        break;
      }
      memcpy(next_buf, link_buf, (size_t)n);
      next_buf[n] = '/';
      memcpy(next_buf + n + 1, after, alen + 1);
      memcpy(rest_buf, next_buf, (size_t)n + 1 + alen + 1);
      rest = rest_buf;
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) {
      close(fd);
      err = -ENOTDIR;
      break;
    }
    if (rlen + clen + 2 >= sizeof resolved_buf) {
      close(fd);
      err = -ENAMETOOLONG;
      break;
    }
    if (rlen) resolved_buf[rlen++] = '/';
    memcpy(resolved_buf + rlen, name_buf, clen + 1);
    rlen += clen;
    hold_dir(&dir, fd);
    rest = end;
  }
  if (err) {
    hold_dir(&dir, root_fd);
    return err;
  }
  if (dir == root_fd) dir = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
  return dir < 0 ? -errno : dir;
}

/* The procfs the child writes and mounts through once the root has changed (CVE-2025-52881): a new
 * instance mounted nowhere (fsopen, fsmount), which nothing in the container can swap, redirect or
 * mount over. Where the kernel refuses one (a user namespace that sees no whole /proc), the
 * container's own /proc, opened through no symlink and checked to be a procfs root; the openat2
 * RESOLVE_NO_XDEV of open_proc_file then refuses whatever is mounted over its files. */
static int private_procfs(void) {
  if (procfs_fd >= 0) return procfs_fd;
  int fd = -1;
  int ctx = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
  if (ctx >= 0) {
    if (syscall(SYS_fsconfig, ctx, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
      fd = (int)syscall(SYS_fsmount, ctx, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    close(ctx);
  }
  if (fd < 0) {
    struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    fd = (int)syscall(SYS_openat2, root_fd, "proc", &how, sizeof how);
    if (fd < 0) fail_part(errno, PART_PROCFS);
  }
  /* What the kernel guarantees of every procfs mount's root: its magic and inode 1. */
  struct statfs sf;
  struct stat sb;
  if (fstatfs(fd, &sf) < 0 || fstat(fd, &sb) < 0) fail_part(errno, PART_PROCFS);
  if (sf.f_type != PROC_SUPER_MAGIC || sb.st_ino != 1) fail_part(EXDEV, PART_PROCFS);
  return procfs_fd = fd;
}

/* Opens `path`, relative to procfs ("sys/net/ipv4/ip_forward", "self/oom_score_adj"), in the
 * private procfs: beneath its root, through no symlink and no other mount ("self", itself a
 * symlink, is spelled as our pid). Returns the fd or -errno. */
static int open_proc_file(const char *path, int flags) {
  int proc = private_procfs();
  if (strncmp(path, "self/", 5) == 0) {
    size_t rlen = str_len(path + 4);
    if (16 + rlen + 1 > sizeof proc_path_buf) return -ENAMETOOLONG;
    memcpy(put_digits(proc_path_buf, (unsigned)syscall(SYS_getpid)), path + 4, rlen + 1);
    path = proc_path_buf;
  }
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  int fd = (int)syscall(SYS_openat2, proc, path, &how, sizeof how);
  if (fd < 0) return -errno;
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) {
    close(fd);
    return -EXDEV;
  }
  return fd;
}

/* The path a mount syscall uses for an O_PATH fd: "/proc/self/fd/N", through the host's /proc before
 * the root changes. After, through the private procfs instead of the container's /proc, which an
 * image or a racing process may have made lead anywhere: the cwd moves to that procfs's root for
 * the call and the path ("self/fd/N") is relative to it; end_fd_paths() moves it back. */
static const char *mount_path(int slot, int fd) {
  if (!pivoted) return fd_path(slot, fd);
  check(fchdir(private_procfs()));
  return fd_path(slot, fd) + 6; /* past "/proc/" */
}

static void end_fd_paths(void) {
  if (pivoted) check(chdir("/"));
}

/* Splits "a/b/c" into the directory fd of "a/b" (created) and the name "c"; returns the fd or -errno. */
static int parent_in_root(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  size_t dlen = slash ? (size_t)(slash - path) : 0;
  if (!**name || dlen >= sizeof exec_buf) return -EINVAL;
  memcpy(exec_buf, path, dlen);
  exec_buf[dlen] = 0;
  return resolve_in_root(exec_buf, CREATE_DIR, 1);
}

static unsigned long flags_of_statvfs(unsigned long f) {
  unsigned long m = 0;
  if (f & ST_NOSUID) m |= MS_NOSUID;
  if (f & ST_NODEV) m |= MS_NODEV;
  if (f & ST_NOEXEC) m |= MS_NOEXEC;
  if (f & ST_NOATIME) m |= MS_NOATIME;
  if (f & ST_NODIRATIME) m |= MS_NODIRATIME;
  if (f & ST_RELATIME) m |= MS_RELATIME;
  if (f & ST_RDONLY) m |= MS_RDONLY;
  return m;
}

/* The mount_setattr(2) attributes of a bind's per-mount flags, and whether it has any. */
static int bind_attrs(unsigned long flags, struct mount_attr *attr) {
  memset(attr, 0, sizeof *attr);
  if (flags & MS_RDONLY) attr->attr_set |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) attr->attr_set |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV) attr->attr_set |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC) attr->attr_set |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NODIRATIME) attr->attr_set |= MOUNT_ATTR_NODIRATIME;
  if (flags & MS_NOSYMFOLLOW) attr->attr_set |= MOUNT_ATTR_NOSYMFOLLOW;
  if (flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
    attr->attr_clr |= MOUNT_ATTR__ATIME;
    attr->attr_set |= flags & MS_NOATIME ? MOUNT_ATTR_NOATIME : flags & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
  }
  return attr->attr_set || attr->attr_clr;
}

/* A bind whose flags (ro, nosuid...) are set before it is attached: open_tree clones the source,
 * mount_setattr sets them on the clone's top mount (as a remount would), move_mount attaches it on
 * the target's fd. A bind then a remount would find the target by path a second time, which a
 * racing process can point elsewhere, leaving the bind writable. `sfd` < 0: `source` is a path. */
static void bind_with_flags(int sfd, const char *source, int tfd, unsigned long flags, const struct mount_attr *attr) {
  unsigned tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (flags & MS_REC ? AT_RECURSIVE : 0);
  int tree = sfd >= 0 ? (int)syscall(SYS_open_tree, sfd, "", tree_flags | AT_EMPTY_PATH)
                      : (int)syscall(SYS_open_tree, AT_FDCWD, source, tree_flags);
  check(tree);
  check(syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, attr, sizeof *attr));
  check(syscall(SYS_move_mount, tree, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
  close(tree);
}

static void do_mount(const struct plan_step *st) {
  unsigned long flags = (unsigned long)st->i[MOUNT_FLAGS];
  const char *source = st->s[0], *target = st->s[1];
  int tfd = -1, sfd = -1;
  if (st->i[MOUNT_TARGET_IN_ROOT]) {
    int follow = !st->i[MOUNT_NO_SYMLINKS];
    tfd = resolve_in_root(target, (int)st->i[MOUNT_CREATE], follow);
    if (tfd == -ENOENT && st->i[MOUNT_OPTIONAL]) return;
    if (tfd == -ELOOP && !follow) fail_part(ELOOP, PART_NO_SYMLINKS);
    if (tfd < 0) fail(-tfd);
  }
  if (source && st->i[MOUNT_SOURCE_IN_ROOT]) {
    /* A path bound onto itself is resolved once: the same fd is source and target. */
    sfd = tfd >= 0 && strcmp(source, target) == 0 ? fcntl(tfd, F_DUPFD_CLOEXEC, 3) : resolve_in_root(source, CREATE_NONE, 1);
    if (sfd < 0) fail(-sfd);
  }
  struct mount_attr attr;
  if ((flags & MS_BIND) && !(flags & MS_REMOUNT) && tfd >= 0 && bind_attrs(flags, &attr)) {
    bind_with_flags(sfd, source, tfd, flags, &attr);
  } else {
    if (tfd >= 0) target = mount_path(0, tfd);
    if (sfd >= 0) source = mount_path(1, sfd);
    if (st->i[MOUNT_KEEP_FLAGS]) {
      struct statvfs sv;
      check(tfd >= 0 ? fstatvfs(tfd, &sv) : statvfs(target, &sv));
      flags |= flags_of_statvfs(sv.f_flag);
    }
    check(mount(source, target, st->s[2], flags, st->s[3]));
    end_fd_paths();
  }
  if (tfd >= 0) close(tfd);
  if (sfd >= 0) close(sfd);
}

/* The container's /dev/null, which a masked file gets bound over it: opened through no symlink
 * inside the root, checked to be the null device (character 1:3), and bound from this fd, so that
 * neither an image's /dev/null nor one swapped in meanwhile can put a file of its choice, readable
 * or writable, at a masked path (CVE-2025-31133). */
static int container_dev_null(void) {
  if (dev_null_fd >= 0) return dev_null_fd;
  struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, root_fd, "dev/null", &how, sizeof how);
  if (fd < 0) fail_part(errno, PART_DEV_NULL);
  struct stat sb;
  if (fstat(fd, &sb) < 0) fail_part(errno, PART_DEV_NULL);
  if (!S_ISCHR(sb.st_mode) || sb.st_rdev != makedev(1, 3)) fail_part(ENODEV, PART_DEV_NULL);
  return dev_null_fd = fd;
}

/* A masked path is found through no symlink: the mounts it lives under (procfs, sysfs) were made
 * through none, and a symlink swapped in on the way would take the mask elsewhere and leave the
 * real file unmasked (CVE-2019-19921). Missing is fine; a symlink fails the start. */
static void do_mask(const struct plan_step *st) {
  int fd = resolve_in_root(st->s[0], CREATE_NONE, 0);
  if (fd == -ENOENT || fd == -ENOTDIR) return;
  if (fd == -ELOOP) fail_part(ELOOP, PART_NO_SYMLINKS);
  if (fd < 0) fail(-fd);
  struct stat sb;
  check(fstat(fd, &sb));
  if (S_ISDIR(sb.st_mode)) {
    check(mount("tmpfs", mount_path(0, fd), "tmpfs", MS_RDONLY, NULL));
  } else {
    int null = container_dev_null();
    check(mount(mount_path(1, null), mount_path(0, fd), NULL, MS_BIND, NULL));
  }
  end_fd_paths();
  close(fd);
}

static void do_mknod(const struct plan_step *st) {
  const char *name;
  int dfd = parent_in_root(st->s[0], &name);
  if (dfd < 0) fail(-dfd);
  if (mknodat(dfd, name, (mode_t)st->i[0], makedev(st->i[1], st->i[2])) < 0) {
    if (errno != EEXIST) fail(errno);
  } else {
    check(fchownat(dfd, name, (uid_t)st->i[3], (gid_t)st->i[4], AT_SYMLINK_NOFOLLOW));
  }
  close(dfd);
}

static void do_symlink(const struct plan_step *st) {
  const char *name;
  int dfd = parent_in_root(st->s[1], &name);
  if (dfd < 0) fail(-dfd);
  if (symlinkat(st->s[0], dfd, name) < 0 && errno != EEXIST) fail(errno);
  close(dfd);
}

static void do_pivot_root(void) {
  check(fchdir(root_fd));
  check(syscall(SYS_pivot_root, ".", "."));
  /* The old root is now stacked under "."; make it a slave so detaching it cannot reach the host. */
  check(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL));
  check(umount2(".", MNT_DETACH));
  check(chdir("/"));
  pivoted = 1;
}

static void do_move_root(void) {
  check(fchdir(root_fd));
  check(mount(".", "/", NULL, MS_MOVE, NULL));
  check(chroot("."));
  check(chdir("/"));
  pivoted = 1;
}

static void do_chroot(void) {
  check(fchdir(root_fd));
  check(chroot("."));
  check(chdir("/"));
  pivoted = 1;
}

static void write_all(int fd, const char *s, size_t n) {
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
  send_msg(MSG_READY, 0, 0);
  int fd;
  do fd = open(fd_path(0, path_fd), O_WRONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) fail(errno);
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
  long n = syscall(SYS_getcwd, link_buf, sizeof link_buf);
  if (n < 0) fail(errno);
  if (link_buf[0] != '/') fail(ENOENT);
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
