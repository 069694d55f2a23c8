/* berth's native addon: spawn(plan) and waiting for what it spawned. */
#include "plan.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
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

/* spawn(planBuffer) -> {pid, pidfd, statusFd, syncFd}
 * The child runs the plan (native/child.c). The parent reads child_msg records from statusFd (EOF
 * without an error record means the exec happened) and writes one byte to syncFd to end a pause. */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "spawn: expected the encoded plan (a Buffer)");
    return NULL;
  }
  struct plan p;
  const char *bad = plan_parse(data, len, &p);
  if (bad) {
    plan_free(&p);
    napi_throw_error(env, "EINVAL", bad);
    return NULL;
  }
  int status[2], sync[2];
  if (pipe2(status, O_CLOEXEC) < 0) {
    plan_free(&p);
    return throw_errno(env, errno, "pipe2", NULL);
  }
  if (pipe2(sync, O_CLOEXEC) < 0) {
    int err = errno;
    close(status[0]);
    close(status[1]);
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
  if (pid == 0) child_run(&p, status[1], sync[0]);
  int err = errno;
  plan_free(&p);
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
  napi_value cb, global, result;
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &global);
  if (rc == 0) result = exit_status_object(env, &si);
  else napi_get_null(env, &result);
  napi_delete_reference(env, w->callback);
  uv_close((uv_handle_t *)poll, watch_closed);
  napi_value ignored;
  if (napi_call_function(env, global, cb, 1, &result, &ignored) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
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
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_default, NULL},
      {"watchExit", NULL, js_watch_exit, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  register_syscalls(env, exports);
  register_bpf(env, exports);
  register_seccomp(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
