/* The plan, as the child executes it. Mirrors src/kernel/plan.ts (encodePlan): keep them in step. */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define PLAN_MAGIC 0x42525448
#define PLAN_VERSION 1
#define PLAN_HEADER_BYTES 64
#define PLAN_STEP_BYTES 80
#define PLAN_MAX_STEPS 4096
#define PLAN_MAX_KEEP_FDS 16
#define PLAN_MAX_LIST 4096 /* argv, env, groups: items per list */

enum plan_op {
  OP_SETNS = 1,
  OP_FORK_INTO_PIDNS = 2,
  OP_SYNC = 3,
  OP_OPEN_ROOT = 4,
  OP_MOUNT = 5,
  OP_MASK = 6,
  OP_MKNOD = 7,
  OP_SYMLINK = 8,
  OP_PIVOT_ROOT = 9,
  OP_MOVE_ROOT = 10,
  OP_CHROOT = 11,
  OP_WRITE_PROC = 12,
  OP_SETHOSTNAME = 13,
  OP_SETDOMAINNAME = 14,
  OP_RLIMIT = 15,
  OP_SETSID = 16,
  OP_CONSOLE = 17,
  OP_EXEC_FIFO = 18,
  OP_BOUNDING = 19,
  OP_KEEP_CAPS = 20,
  OP_SETGROUPS = 21,
  OP_SETGID = 22,
  OP_SETUID = 23,
  OP_CAPSET = 24,
  OP_AMBIENT = 25,
  OP_NO_NEW_PRIVS = 26,
  OP_UMASK = 27,
  OP_CHDIR = 28,
  OP_EXEC = 29,
  OP_UNSHARE = 30,
  OP_LOOPBACK_UP = 31,
  OP_SECCOMP = 32,
};

/* A step's binary slot (bytes that may hold NULs, e.g. a BPF program): its offset and length in
 * the step's last two int slots. Only ops that have one use them (plan_parse: op_has_blob). */
enum { BLOB_OFFSET = 5, BLOB_LENGTH = 6 };

/* seccomp step int slots: the seccomp(2) flags, and the socket the notify listener fd is sent on
 * (-1: no listener). The BPF program is the step's binary slot. */
enum { SECCOMP_FLAGS = 0, SECCOMP_LISTENER_SOCKET = 1 };
#define PLAN_MAX_BPF_INSNS 4096 /* BPF_MAXINSNS: the kernel's limit for one filter */

/* mount step int slots */
enum { MOUNT_FLAGS = 0, MOUNT_CREATE = 1, MOUNT_SOURCE_IN_ROOT = 2, MOUNT_TARGET_IN_ROOT = 3,
       MOUNT_KEEP_FLAGS = 4, MOUNT_OPTIONAL = 5, MOUNT_NO_SYMLINKS = 6 };
enum { CREATE_NONE = 0, CREATE_DIR = 1, CREATE_FILE = 2 };

struct plan_step {
  int64_t op;
  int64_t i[7];
  const char *s[4];   /* NULL when absent */
  char **list0;       /* OP_EXEC argv, OP_SETGROUPS: unused (gids below) */
  char **list1;       /* OP_EXEC envp */
  gid_t *gids;        /* OP_SETGROUPS */
  const void *blob;   /* the binary slot, inside the plan's buffer; NULL when absent */
  size_t blob_len;
};

struct plan {
  int64_t clone_flags;
  int stdio[3];
  int nkeep;
  int keep[PLAN_MAX_KEEP_FDS];
  int nsteps;
  struct plan_step *steps;
  char *buffer; /* a private copy of the encoded plan: strings point into it */
};

/* Which part of a step failed, for the steps that do more than their one syscall: an error's
 * value (src/kernel/describe.ts names it). */
enum step_part { PART_STEP = 0, PART_PROCFS = 1, PART_DEV_NULL = 2, PART_DEV_CONSOLE = 3, PART_NO_SYMLINKS = 4 };

/* Messages the child writes to the status pipe. Success is the pipe closing at execve. */
enum child_msg_type { MSG_ERROR = 1, MSG_SYNC = 2, MSG_PID = 3, MSG_READY = 4 };
struct child_msg {
  int32_t type;
  int32_t step;  /* index of the step, -1 before the first */
  int32_t err;   /* errno for MSG_ERROR */
  int32_t value; /* sync tag, pid; for an error, the step_part that failed */
};

/* Parses `len` bytes at `data` into `out`. Returns NULL or a static message naming what is wrong. */
const char *plan_parse(const void *data, size_t len, struct plan *out);
void plan_free(struct plan *p);

/* berth-init's side (native/child.c): runs the steps and execs, or reports and _exits. Never returns. */
void child_run(const struct plan *p, int status_fd, int sync_fd) __attribute__((noreturn));

#endif
