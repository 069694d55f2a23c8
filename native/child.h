/* The plan executor (berth-init) in three parts: child.c runs the steps, and those of the process
 * itself; child-root.c those of the container's root; child-report.c the status pipe and the small
 * helpers both use. What one part uses of another. */
#ifndef BERTH_CHILD_H
#define BERTH_CHILD_H

#include "plan.h"

/* child-report.c: the status pipe (a failure reports {step, errno} and _exits), small helpers.
 * child.c sets status_fd once and current_step as it walks the steps. */
extern int status_fd;
extern int current_step;
void send_msg(int type, int err, int value);
void fail(int err) __attribute__((noreturn));
/* A failure of one part of a step (enum step_part): the message then says which. */
void fail_part(int err, int part) __attribute__((noreturn));
void check(long rc);
size_t str_len(const char *s);
char *put_digits(char *out, unsigned n);
/* "/proc/self/fd/N" in one of two small buffers (slot 0 or 1). */
const char *fd_path(int slot, int fd);
void write_all(int fd, const char *s, size_t n);

/* child-root.c: the root OP_OPEN_ROOT opened, and the steps on it. */
extern int root_fd;
/* A procfs file (`path` relative to procfs) opened through the child's own procfs; -errno on failure. */
int open_proc_file(const char *path, int flags);
/* The path a mount syscall uses for an O_PATH fd; end_fd_paths() after the call. */
const char *mount_path(int slot, int fd);
void end_fd_paths(void);
void do_mount(const struct plan_step *st);
void do_mask(const struct plan_step *st);
void do_mknod(const struct plan_step *st);
void do_symlink(const struct plan_step *st);
void do_pivot_root(void);
void do_move_root(void);
void do_chroot(void);

#endif
