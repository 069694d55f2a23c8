{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": ["native/addon.c", "native/plan.c", "native/syscalls.c", "native/bpf.c", "native/seccomp.c", "native/digest.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fno-strict-aliasing"],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "libraries": ["-lseccomp"]
    },
    {
      "target_name": "berth-init",
      "type": "executable",
      "sources": ["native/init.c", "native/plan.c", "native/child.c", "native/child-root.c", "native/child-report.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fno-strict-aliasing"],
      "ldflags": ["-static", "-s"],
      "defines": ["_GNU_SOURCE"]
    },
    {
      "target_name": "berth-chroot-escape",
      "type": "executable",
      "sources": ["native/chroot-escape.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static", "-s"]
    }
  ]
}
