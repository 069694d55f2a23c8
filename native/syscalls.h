/* Shared by the addon's N-API functions. */
#ifndef BERTH_SYSCALLS_H
#define BERTH_SYSCALLS_H

#include <node_api.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

napi_value throw_errno(napi_env env, int err, const char *syscall_name, const char *path);
const char *errno_name(int err);
int arg_int(napi_env env, napi_value v, int64_t *out);
const char *arg_str(napi_env env, napi_value v, char *buf, size_t size);
napi_value make_int(napi_env env, int64_t v);
void call_back(napi_env env, napi_value cb, napi_value arg);
napi_value exit_status_object(napi_env env, const siginfo_t *si);
void register_syscalls(napi_env env, napi_value exports);
void register_bpf(napi_env env, napi_value exports);
void register_seccomp(napi_env env, napi_value exports);
void register_digest(napi_env env, napi_value exports);

#endif
