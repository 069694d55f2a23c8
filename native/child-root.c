/* The plan executor's steps on the container's root (berth-init, with child.c): paths resolved
 * inside the root, one name at a time in directories held open; the procfs the child writes
 * through; mounts, masks, device nodes, symlinks; pivot_root, its MS_MOVE fallback, chroot. Like
 * child.c it allocates nothing and reports every failure as {step, errno}. */
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

int root_fd = -1;
static int pivoted; /* after pivot/move/chroot, "/" is the container's root */
static int procfs_fd = -1;   /* the private procfs, opened at first use (private_procfs) */
static int dev_null_fd = -1; /* the container's verified /dev/null, opened at the first mask */

/* Scratch space for path work; the child is single-threaded, so static buffers are safe. */
static char rest_buf[2 * PATH_MAX];
static char next_buf[2 * PATH_MAX];
static char resolved_buf[PATH_MAX];
static char link_buf[PATH_MAX];
static char name_buf[NAME_MAX + 1];
static char proc_path_buf[PATH_MAX];
static char parent_buf[PATH_MAX];

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
int open_proc_file(const char *path, int flags) {
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
const char *mount_path(int slot, int fd) {
  if (!pivoted) return fd_path(slot, fd);
  check(fchdir(private_procfs()));
  return fd_path(slot, fd) + 6; /* past "/proc/" */
}

void end_fd_paths(void) {
  if (pivoted) check(chdir("/"));
}

/* Splits "a/b/c" into the directory fd of "a/b" (created) and the name "c"; returns the fd or -errno. */
static int parent_in_root(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  size_t dlen = slash ? (size_t)(slash - path) : 0;
  if (!**name || dlen >= sizeof parent_buf) return -EINVAL;
  memcpy(parent_buf, path, dlen);
  parent_buf[dlen] = 0;
  return resolve_in_root(parent_buf, CREATE_DIR, 1);
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

void do_mount(const struct plan_step *st) {
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
void do_mask(const struct plan_step *st) {
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

void do_mknod(const struct plan_step *st) {
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

void do_symlink(const struct plan_step *st) {
  const char *name;
  int dfd = parent_in_root(st->s[1], &name);
  if (dfd < 0) fail(-dfd);
  if (symlinkat(st->s[0], dfd, name) < 0 && errno != EEXIST) fail(errno);
  close(dfd);
}

void do_pivot_root(void) {
  check(fchdir(root_fd));
  check(syscall(SYS_pivot_root, ".", "."));
  /* The old root is now stacked under "."; make it a slave so detaching it cannot reach the host. */
  check(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL));
  check(umount2(".", MNT_DETACH));
  check(chdir("/"));
  pivoted = 1;
}

void do_move_root(void) {
  check(fchdir(root_fd));
  check(mount(".", "/", NULL, MS_MOVE, NULL));
  check(chroot("."));
  check(chdir("/"));
  pivoted = 1;
}

void do_chroot(void) {
  check(fchdir(root_fd));
  check(chroot("."));
  check(chdir("/"));
  pivoted = 1;
}
