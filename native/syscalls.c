/* The syscalls Node lacks, each a thin N-API function. Errors become JS errors carrying
 * {code: 'EPERM', errno, syscall, path}; src/kernel/ turns them into KernelError. */
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <unistd.h>
#include <linux/openat2.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

napi_value throw_errno(napi_env env, int err, const char *syscall_name, const char *path) {
  napi_value error, code, msg, num, sc, pv;
  const char *name = errno_name(err);
  char text[512];
  snprintf(text, sizeof text, "%s%s%s: %s (%s)", syscall_name, path ? " " : "", path ? path : "", name, strerror(err));
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &pv);
    napi_set_named_property(env, error, "path", pv);
  }
  napi_throw(env, error);
  return NULL;
}

/* Calls cb(arg) from a completion outside JavaScript (a libuv or async-work callback), inside the
 * caller's handle scope; an exception it throws goes to the process's uncaught-exception handling. */
void call_back(napi_env env, napi_value cb, napi_value arg) {
  napi_value global, ignored;
  napi_get_global(env, &global);
  if (napi_call_function(env, global, cb, 1, &arg, &ignored) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

const char *errno_name(int err) {
  const char *name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

/* ---- argument helpers ---- */

int arg_int(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

/* Copies a string argument into buf; null/undefined gives NULL. */
const char *arg_str(napi_env env, napi_value v, char *buf, size_t size) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_string) return NULL;
  size_t len;
  napi_get_value_string_utf8(env, v, buf, size, &len);
  return buf;
}

napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

#define ARGS(n)                 \
  size_t argc = n;              \
  napi_value argv[n];           \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  char src[4096], tgt[4096], fst[256], data[8192];
  int64_t flags = 0;
  arg_int(env, argv[3], &flags);
  const char *s = arg_str(env, argv[0], src, sizeof src), *t = arg_str(env, argv[1], tgt, sizeof tgt),
             *f = arg_str(env, argv[2], fst, sizeof fst), *d = arg_str(env, argv[4], data, sizeof data);
  if (mount(s, t, f, (unsigned long)flags, d) < 0) return throw_errno(env, errno, "mount", t);
  return NULL;
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  char tgt[4096];
  int64_t flags = 0;
  arg_int(env, argv[1], &flags);
  const char *t = arg_str(env, argv[0], tgt, sizeof tgt);
  if (umount2(t, (int)flags) < 0) return throw_errno(env, errno, "umount2", t);
  return NULL;
}

/* openPath(path): an O_PATH fd, which opens nothing (a FIFO's writer is not woken by it). */
static napi_value js_open_path(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[4096];
  const char *p = arg_str(env, argv[0], path, sizeof path);
  int fd = open(p, O_PATH | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", p);
  return make_int(env, fd);
}

/* mkfifo(path, mode) */
static napi_value js_mkfifo(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[4096];
  int64_t mode = 0600;
  arg_int(env, argv[1], &mode);
  const char *p = arg_str(env, argv[0], path, sizeof path);
  if (mkfifo(p, (mode_t)mode) < 0) return throw_errno(env, errno, "mkfifo", p);
  return NULL;
}

static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t pid;
  arg_int(env, argv[0], &pid);
  long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return throw_errno(env, errno, "pidfd_open", NULL);
  return make_int(env, fd);
}

static napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd, sig;
  arg_int(env, argv[0], &fd);
  arg_int(env, argv[1], &sig);
  if (syscall(SYS_pidfd_send_signal, (int)fd, (int)sig, NULL, 0) < 0)
    return throw_errno(env, errno, "pidfd_send_signal", NULL);
  return NULL;
}

napi_value exit_status_object(napi_env env, const siginfo_t *si) {
  napi_value out, code = NULL, sig = NULL, nul;
  napi_create_object(env, &out);
  napi_get_null(env, &nul);
  if (si->si_code == CLD_EXITED) {
    code = make_int(env, si->si_status);
    sig = nul;
  } else {
    code = nul;
    sig = make_int(env, si->si_status);
  }
  napi_set_named_property(env, out, "code", code);
  napi_set_named_property(env, out, "signal", sig);
  return out;
}

/* reap(pidfd): waits (blocking) for a child known to be exiting; {code, signal}. */
static napi_value js_reap(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  arg_int(env, argv[0], &fd);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do rc = waitid(P_PIDFD, (id_t)fd, &si, WEXITED);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "waitid", NULL);
  return exit_status_object(env, &si);
}

/* socketpair(): two connected AF_UNIX stream sockets, close-on-exec. */
/* The two fds as a JS array [a, b]. */
static napi_value fd_pair(napi_env env, const int sv[2]) {
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, make_int(env, sv[0]));
  napi_set_element(env, arr, 1, make_int(env, sv[1]));
  return arr;
}

static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return throw_errno(env, errno, "socketpair", NULL);
  return fd_pair(env, sv);
}

/* pipe(): [read end, write end], close-on-exec. A container's stdout must be a pipe, not a socket:
   open("/dev/stdout") fails with ENXIO on a socket (nginx logs to /dev/stdout). */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, errno, "pipe2", NULL);
  return fd_pair(env, fds);
}

/* unixConnect(path, seqpacket): a connected AF_UNIX socket fd: a stream (a console socket), or
   with seqpacket true a SOCK_SEQPACKET one (conmon's attach socket), which Node's net cannot open. */
static napi_value js_unix_connect(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[4096];
  const char *p = arg_str(env, argv[0], path, sizeof path);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (!p || strlen(p) >= sizeof addr.sun_path) return throw_errno(env, ENAMETOOLONG, "connect", p);
  strcpy(addr.sun_path, p);
  bool seqpacket = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &seqpacket);
  int fd = socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", p);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "connect", p);
  }
  return make_int(env, fd);
}

/* shutdown(fd, how): 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR. SHUT_WR: the peer reads end-of-file (an
   attach client's stdin ended) while this side still reads; SHUT_RDWR also wakes a read blocked
   on the socket in another thread. */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd = -1, how = SHUT_RDWR;
  arg_int(env, argv[0], &fd);
  arg_int(env, argv[1], &how);
  if (shutdown((int)fd, (int)how) < 0) return throw_errno(env, errno, "shutdown", NULL);
  return NULL;
}

/* unixListen(path): a listening AF_UNIX stream socket (a console socket's receiving end). */
static napi_value js_unix_listen(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[4096];
  const char *p = arg_str(env, argv[0], path, sizeof path);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (!p || strlen(p) >= sizeof addr.sun_path) return throw_errno(env, ENAMETOOLONG, "bind", p);
  strcpy(addr.sun_path, p);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", p);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind", p);
  }
  return make_int(env, fd);
}

/* accept(fd): the next connection (blocking). */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  arg_int(env, argv[0], &fd);
  int c;
  do c = accept4((int)fd, NULL, NULL, SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  if (c < 0) return throw_errno(env, errno, "accept", NULL);
  return make_int(env, c);
}

/* recvFd(sock): receives one fd sent with SCM_RIGHTS (blocking). */
static napi_value js_recv_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t sock;
  arg_int(env, argv[0], &sock);
  char byte[256];
  struct iovec iov = {.iov_base = byte, .iov_len = sizeof byte};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t n;
  do n = recvmsg((int)sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "recvmsg", NULL);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return throw_errno(env, EBADMSG, "recvmsg", NULL);
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return make_int(env, fd);
}

/* sendFd(sock, fd, data): sends `data` with `fd` attached (SCM_RIGHTS) on the first sendmsg, the
   rest of a long payload after it (a seccomp agent's container process state, as the runtime-spec
   allows: fds only in the first call). native/child.c has a send_fd of its own: it runs in the cloned
   child (and in berth-init), without the addon. */
static napi_value js_send_fd(napi_env env, napi_callback_info info) {
  ARGS(3);
  int64_t sock, fd;
  void *data;
  size_t len;
  if (!arg_int(env, argv[0], &sock) || !arg_int(env, argv[1], &fd) ||
      napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, NULL, "sendFd(sock, fd, data: a non-empty Buffer)");
    return NULL;
  }
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  size_t sent = 0;
  while (sent < len) {
    struct iovec iov = {.iov_base = (char *)data + sent, .iov_len = len - sent};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (sent == 0) {
      int one = (int)fd;
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &one, sizeof one);
    }
    ssize_t n;
    do n = sendmsg((int)sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return throw_errno(env, errno, "sendmsg", NULL);
    sent += (size_t)n;
  }
  return NULL;
}

/* setWinsize(fd, rows, cols): TIOCSWINSZ on a pty. */
static napi_value js_set_winsize(napi_env env, napi_callback_info info) {
  ARGS(3);
  int64_t fd, rows, cols;
  arg_int(env, argv[0], &fd);
  arg_int(env, argv[1], &rows);
  arg_int(env, argv[2], &cols);
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl((int)fd, TIOCSWINSZ, &ws) < 0) return throw_errno(env, errno, "ioctl TIOCSWINSZ", NULL);
  return NULL;
}

/*
 * setOutputProcessing(fd, on): the terminal's OPOST flag. Node's raw mode (libuv) keeps output
 * processing, so a container's bare "\n" would become "\r\n" a second time on our terminal; a
 * proxy of a container's pty turns it off, as docker's raw mode (cfmakeraw) does.
 */
static napi_value js_set_output_processing(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd;
  bool on;
  arg_int(env, argv[0], &fd);
  napi_get_value_bool(env, argv[1], &on);
  struct termios t;
  if (tcgetattr((int)fd, &t) < 0) return throw_errno(env, errno, "tcgetattr", NULL);
  if (on) t.c_oflag |= OPOST;
  else t.c_oflag &= ~(tcflag_t)OPOST;
  if (tcsetattr((int)fd, TCSANOW, &t) < 0) return throw_errno(env, errno, "tcsetattr", NULL);
  return NULL;
}

/* ---- for the layer applier (src/storage/) ---- */

/* mknod(path, mode, major, minor): mode carries the type (S_IFCHR, S_IFBLK). */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  ARGS(4);
  char path[4096];
  int64_t mode = 0, major = 0, minor = 0;
  arg_int(env, argv[1], &mode);
  arg_int(env, argv[2], &major);
  arg_int(env, argv[3], &minor);
  const char *p = arg_str(env, argv[0], path, sizeof path);
  if (mknod(p, (mode_t)mode, makedev((unsigned)major, (unsigned)minor)) < 0) return throw_errno(env, errno, "mknod", p);
  return NULL;
}

/* lsetxattr(path, name, value: Buffer): never follows a final symlink. */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(3);
  char path[4096], name[256];
  const char *p = arg_str(env, argv[0], path, sizeof path), *n = arg_str(env, argv[1], name, sizeof name);
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "lsetxattr: the value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(p, n, data, len, 0) < 0) return throw_errno(env, errno, "lsetxattr", p);
  return NULL;
}

/* lgetxattr(path, name) -> Buffer, or null when the attribute is not there, or the filesystem
 * holds none of its kind (ENOTSUP: a tmpfs of an older kernel has no user.* attributes). */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[4096], name[256];
  const char *p = arg_str(env, argv[0], path, sizeof path), *n = arg_str(env, argv[1], name, sizeof name);
  char value[65536];
  ssize_t len = lgetxattr(p, n, value, sizeof value);
  if (len < 0) {
    if (errno == ENODATA || errno == ENOTSUP) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return throw_errno(env, errno, "lgetxattr", p);
  }
  napi_value out;
  napi_create_buffer_copy(env, (size_t)len, value, NULL, &out);
  return out;
}

/* llistxattr(path) -> the attribute names, as one NUL-separated Buffer (split in TypeScript); empty
 * where the filesystem has no xattrs at all. */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[4096];
  const char *p = arg_str(env, argv[0], path, sizeof path);
  char names[65536];
  ssize_t len = llistxattr(p, names, sizeof names);
  if (len < 0 && errno == ENOTSUP) len = 0; /* a filesystem without xattrs: none to list */
  if (len < 0) return throw_errno(env, errno, "llistxattr", p);
  napi_value out;
  napi_create_buffer_copy(env, (size_t)len, names, NULL, &out);
  return out;
}

/* openat2(dirfd, path, flags, mode, resolve): an fd for `path` looked up from `dirfd` with the
 * kernel's RESOLVE_* rules (RESOLVE_IN_ROOT: dirfd is "/", symlinks and ".." never leave it).
 * O_CLOEXEC is always added. */
static napi_value js_openat2(napi_env env, napi_callback_info info) {
  ARGS(5);
  char path[4096];
  int64_t dirfd = -1, flags = 0, mode = 0, resolve = 0;
  arg_int(env, argv[0], &dirfd);
  arg_int(env, argv[2], &flags);
  arg_int(env, argv[3], &mode);
  arg_int(env, argv[4], &resolve);
  const char *p = arg_str(env, argv[1], path, sizeof path);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0;
  how.resolve = (uint64_t)resolve;
  long fd;
  do fd = syscall(SYS_openat2, (int)dirfd, p, &how, sizeof how);
  while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0) return throw_errno(env, errno, "openat2", p);
  return make_int(env, fd);
}

void register_syscalls(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_default, NULL},
      {"mkfifo", NULL, js_mkfifo, NULL, NULL, NULL, napi_default, NULL},
      {"openPath", NULL, js_open_path, NULL, NULL, NULL, napi_default, NULL},
      {"openat2", NULL, js_openat2, NULL, NULL, NULL, napi_default, NULL},
      {"pidfdOpen", NULL, js_pidfd_open, NULL, NULL, NULL, napi_default, NULL},
      {"pidfdSendSignal", NULL, js_pidfd_send_signal, NULL, NULL, NULL, napi_default, NULL},
      {"reap", NULL, js_reap, NULL, NULL, NULL, napi_default, NULL},
      {"socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_default, NULL},
      {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_default, NULL},
      {"unixConnect", NULL, js_unix_connect, NULL, NULL, NULL, napi_default, NULL},
      {"shutdown", NULL, js_shutdown, NULL, NULL, NULL, napi_default, NULL},
      {"unixListen", NULL, js_unix_listen, NULL, NULL, NULL, napi_default, NULL},
      {"accept", NULL, js_accept, NULL, NULL, NULL, napi_default, NULL},
      {"recvFd", NULL, js_recv_fd, NULL, NULL, NULL, napi_default, NULL},
      {"sendFd", NULL, js_send_fd, NULL, NULL, NULL, napi_default, NULL},
      {"setWinsize", NULL, js_set_winsize, NULL, NULL, NULL, napi_default, NULL},
      {"setOutputProcessing", NULL, js_set_output_processing, NULL, NULL, NULL, napi_default, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
