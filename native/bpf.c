/* The cgroup v2 device filter: load a BPF_PROG_TYPE_CGROUP_DEVICE program (its instructions are
 * built in TypeScript, src/cgroups/device-filter.ts) and attach it to a cgroup directory. */
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

/* bpfLoadDeviceFilter(instructions: Buffer) -> program fd. A verifier refusal throws with its first line. */
static napi_value js_bpf_load(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *insns;
  size_t len;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &insns, &len) != napi_ok || len % 8 != 0) {
    napi_throw_type_error(env, NULL, "bpfLoadDeviceFilter: expected a Buffer of 8-byte instructions");
    return NULL;
  }
  static char log[16384];
  log[0] = 0;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)insns;
  attr.insn_cnt = (uint32_t)(len / 8);
  attr.license = (uint64_t)(uintptr_t) "Apache";
  attr.log_buf = (uint64_t)(uintptr_t)log;
  attr.log_size = sizeof log;
  attr.log_level = 1;
  long fd = bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    int err = errno;
    /* The verifier's last line says why; keep the message to one line. */
    /* The verifier's first line says why; keep the message to one line. */
    char *nl = strchr(log, '\n');
    if (nl) *nl = 0;
    return throw_errno(env, err, "bpf BPF_PROG_LOAD", log[0] ? log : NULL);
  }
  return make_int(env, fd);
}

/* bpfAttachDeviceFilter(programFd, cgroupDir): attach (BPF_F_ALLOW_MULTI, as systemd and runc do). */
static napi_value js_bpf_attach(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t prog;
  char path[4096];
  arg_int(env, argv[0], &prog);
  const char *dir = arg_str(env, argv[1], path, sizeof path);
  int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) return throw_errno(env, errno, "open", dir);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)cg;
  attr.attach_bpf_fd = (uint32_t)prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  long rc = bpf(BPF_PROG_ATTACH, &attr);
  int err = errno;
  close(cg);
  if (rc < 0) return throw_errno(env, err, "bpf BPF_PROG_ATTACH", dir);
  return NULL;
}

void register_bpf(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bpfLoadDeviceFilter", NULL, js_bpf_load, NULL, NULL, NULL, napi_default, NULL},
      {"bpfAttachDeviceFilter", NULL, js_bpf_attach, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
