/* berth's native addon: spawn(plan) and waiting for what it spawned. */
#include "plan.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The kernel's struct clone_args (v0), spelled out: <linux/sched.h> clashes with <sched.h>. */
struct berth_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static void set_int(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_set_named_property(env, obj, name, make_int(env, v));
}

/* sealInit(path) -> fd: a sealed memfd copy of the berth-init executable (native/init.c), made once
 * per process. The container's init runs from it, so that its /proc/PID/exe is a file that nothing
 * can write (F_SEAL_WRITE and friends), never a file of the host: the CVE-2019-5736 defence runc
 * and crun use too. */
static napi_value js_seal_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  if (argc < 1 || !arg_str(env, argv[0], path, sizeof path)) {
    napi_throw_type_error(env, NULL, "sealInit(path)");
    return NULL;
  }
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return throw_errno(env, errno, "open", path);
  /* MFD_EXEC: where vm.memfd_noexec asks memfds to say so; kernels before 6.3 do not know it. */
  int fd = (int)syscall(SYS_memfd_create, "berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, "berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    int err = errno;
    close(src);
    return throw_errno(env, err, "memfd_create", NULL);
  }
  struct stat st;
  int err = fstat(src, &st) < 0 ? errno : 0;
  for (off_t done = 0; !err && done < st.st_size;) {
    ssize_t n = sendfile(fd, src, NULL, (size_t)(st.st_size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;
    else done += n;
  }
  close(src);
  if (!err && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) err = errno;
  if (err) {
    close(fd);
    return throw_errno(env, err, "seal berth-init", path);
  }
  return make_int(env, fd);
}

/* The plan's bytes in a memfd, for berth-init to read: close-on-exec here, cleared in the child. */
static int plan_memfd(const void *data, size_t len) {
  int fd = (int)syscall(SYS_memfd_create, "berth-plan", MFD_CLOEXEC);
  if (fd < 0) return -1;
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, (const char *)data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      errno = err;
      return -1;
    }
    done += (size_t)n;
  }
  return fd;
}

/* Writes a number in decimal into `out` (at least 12 bytes): no stdio in the child. */
static void decimal(int v, char *out) {
  char digits[12];
  int n = 0;
  do digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) > 0);
  while (n) *out++ = digits[--n];
  *out = 0;
}

/* The child, a copy of this multithreaded Node process: it only makes syscalls. It stops being
 * dumpable, keeps across the exec just the fds berth-init needs, and execs berth-init from its
 * sealed memfd. A failure is reported as step -1 ("start berth-init"). */
static void __attribute__((noreturn)) exec_init(const struct plan *p, int init_fd, int plan_fd, int status_fd, int sync_fd) {
  static char args[3][12];
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  int err = 0;
  int keep[5 + PLAN_MAX_KEEP_FDS];
  int n = 0;
  keep[n++] = plan_fd;
  keep[n++] = status_fd;
  keep[n++] = sync_fd;
  for (int k = 0; k < 3; k++) keep[n++] = p->stdio[k];
  for (int k = 0; k < p->nkeep; k++) keep[n++] = p->keep[k];
  for (int k = 0; k < n && !err; k++)
    if (fcntl(keep[k], F_SETFD, 0) < 0) err = errno;
  if (!err) {
    decimal(plan_fd, args[0]);
    decimal(status_fd, args[1]);
    decimal(sync_fd, args[2]);
    char *argv[] = {"berth-init", args[0], args[1], args[2], NULL};
    char *envp[] = {NULL};
    syscall(SYS_execveat, init_fd, "", argv, envp, AT_EMPTY_PATH);
    err = errno;
  }
  struct child_msg m = {MSG_ERROR, -1, err, 0};
  ssize_t w;
  do w = write(status_fd, &m, sizeof m);
  while (w < 0 && errno == EINTR);
  _exit(1);
}

/* spawn(planBuffer, initFd) -> {pid, pidfd, statusFd, syncFd}
 * The child execs berth-init (initFd, from sealInit), which runs the plan (native/child.c). The
 * parent reads child_msg records from statusFd (EOF without an error record means the container's
 * program was exec'd) and writes one byte to syncFd to end a pause. The plan is parsed here too,
 * so that a malformed one is refused before anything is cloned. */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  int64_t init_fd;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || !arg_int(env, argv[1], &init_fd)) {
    napi_throw_type_error(env, NULL, "spawn: expected the encoded plan (a Buffer) and berth-init's fd");
    return NULL;
  }
  struct plan p;
  const char *bad = plan_parse(data, len, &p);
  if (bad) {
    plan_free(&p);
    napi_throw_error(env, "EINVAL", bad);
    return NULL;
  }
  int plan_fd = plan_memfd(data, len);
  if (plan_fd < 0) {
    int err = errno;
    plan_free(&p);
    return throw_errno(env, err, "memfd_create", NULL);
  }
  int status[2], sync[2];
  if (pipe2(status, O_CLOEXEC) < 0) {
    int err = errno;
    close(plan_fd);
    plan_free(&p);
    return throw_errno(env, err, "pipe2", NULL);
  }
  if (pipe2(sync, O_CLOEXEC) < 0) {
    int err = errno;
    close(status[0]);
    close(status[1]);
    close(plan_fd);
    plan_free(&p);
    return throw_errno(env, err, "pipe2", NULL);
  }
  int pidfd = -1;
  struct berth_clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = (uint64_t)p.clone_flags | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) exec_init(&p, (int)init_fd, plan_fd, status[1], sync[0]);
  int err = errno;
  plan_free(&p);
  close(plan_fd);
  close(status[1]);
  close(sync[0]);
  if (pid < 0) {
    close(status[0]);
    close(sync[1]);
    return throw_errno(env, err, "clone3", NULL);
  }
  napi_value out;
  napi_create_object(env, &out);
  set_int(env, out, "pid", pid);
  set_int(env, out, "pidfd", pidfd);
  set_int(env, out, "statusFd", status[0]);
  set_int(env, out, "syncFd", sync[1]);
  return out;
}

/* ---- watchExit(pidfd, callback): call back once the process has exited ----
 * libuv reaps only the children it spawned, so the pidfd is polled: it turns readable when the
 * process exits, then waitid(P_PIDFD) reaps it. For a process that is not our child (a container
 * created by another berth-runtime), the callback gets null: it is gone, its status is not ours. */
struct exit_watch {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  int pidfd;
};

static void watch_closed(uv_handle_t *h) { free(h->data); }

static void on_pidfd_readable(uv_poll_t *poll, int status, int events) {
  struct exit_watch *w = poll->data;
  napi_env env = w->env;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do rc = waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG);
  while (rc < 0 && errno == EINTR);
  if (rc == 0 && si.si_pid == 0) return; /* readable but not yet reapable: poll again */
  uv_poll_stop(poll);

  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, result;
  napi_get_reference_value(env, w->callback, &cb);
  if (rc == 0) result = exit_status_object(env, &si);
  else napi_get_null(env, &result);
  napi_delete_reference(env, w->callback);
  uv_close((uv_handle_t *)poll, watch_closed);
  call_back(env, cb, result);
  napi_close_handle_scope(env, scope);
}

static napi_value js_watch_exit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t pidfd;
  if (argc < 2 || !arg_int(env, argv[0], &pidfd)) {
    napi_throw_type_error(env, NULL, "watchExit(pidfd, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  struct exit_watch *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, ENOMEM, "watchExit", NULL);
  w->env = env;
  w->pidfd = (int)pidfd;
  w->poll.data = w;
  napi_create_reference(env, argv[1], 1, &w->callback);
  int rc = uv_poll_init(loop, &w->poll, (int)pidfd);
  if (rc == 0) rc = uv_poll_start(&w->poll, UV_READABLE, on_pidfd_readable);
  if (rc != 0) {
    napi_delete_reference(env, w->callback);
    free(w);
    return throw_errno(env, -rc, "uv_poll", NULL);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sealInit", NULL, js_seal_init, NULL, NULL, NULL, napi_default, NULL},
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_default, NULL},
      {"watchExit", NULL, js_watch_exit, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  register_syscalls(env, exports);
  register_bpf(env, exports);
  register_seccomp(env, exports);
  register_digest(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
