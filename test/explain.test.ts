import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MS, NS_FLAGS, SyncTag, type Plan, type Step } from '../src/kernel/plan.js';
import { renderCgroupWrite, renderMkdir, renderPlan, shellQuote } from '../src/explain/render.js';

const ROOTFS = '/var/lib/berth/c1/rootfs';
const S_IFCHR = 0o020000;
const CAP_KILL = 5n;
const CAP_NET_BIND_SERVICE = 10n;
const BERTH_INIT = "# exec berth-init from a sealed memfd, not dumpable: the process never shows the host's node as /proc/PID/exe (CVE-2019-5736)";

function planOf(steps: Step[], cloneFlags = 0): Plan {
  return { cloneFlags, stdio: [0, 1, 2], keepFds: [], steps };
}

/**
 * The lines of the steps alone: not the clone line and the berth-init comment that open every plan.
 * The plan has a mount namespace of its own, as a container's has (without one, a note precedes the
 * first mount: its own test).
 */
function render(...steps: Step[]): string[] {
  return renderPlan(planOf(steps, NS_FLAGS.mount), { rootfs: ROOTFS }).slice(2);
}

test('a typical container: in-root paths under the rootfs until pivot_root, plain after', () => {
  const caps = (1n << CAP_KILL) | (1n << CAP_NET_BIND_SERVICE);
  const plan = planOf(
    [
      { op: 'sync', tag: SyncTag.Created },
      { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags: MS.SLAVE | MS.REC, data: null, create: 'none' },
      { op: 'openRoot', path: ROOTFS },
      { op: 'mount', source: { path: ROOTFS }, target: { path: ROOTFS }, fstype: null, flags: MS.BIND | MS.REC, data: null, create: 'none' },
      {
        op: 'mount',
        source: { path: 'proc' },
        target: { inRoot: '/proc' },
        fstype: 'proc',
        flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
        data: null,
        create: 'dir',
      },
      {
        op: 'mount',
        source: { path: 'tmpfs' },
        target: { inRoot: '/dev' },
        fstype: 'tmpfs',
        flags: MS.NOSUID | MS.STRICTATIME,
        data: 'mode=755,size=65536k',
        create: 'dir',
      },
      { op: 'mknod', path: { inRoot: '/dev/null' }, mode: S_IFCHR | 0o666, major: 1, minor: 3, uid: 0, gid: 0 },
      { op: 'symlink', target: '/proc/self/fd', path: { inRoot: '/dev/fd' } },
      { op: 'sync', tag: SyncTag.BeforePivot },
      { op: 'pivotRoot' },
      { op: 'mask', path: { inRoot: '/proc/kcore' } },
      {
        op: 'mount',
        source: { inRoot: '/proc/sys' },
        target: { inRoot: '/proc/sys' },
        fstype: null,
        flags: MS.BIND | MS.REC,
        data: null,
        create: 'none',
        optional: true,
      },
      {
        op: 'mount',
        source: null,
        target: { inRoot: '/proc/sys' },
        fstype: null,
        flags: MS.BIND | MS.REMOUNT | MS.RDONLY,
        data: null,
        create: 'none',
        keepFlags: true,
        optional: true,
      },
      { op: 'writeProc', path: 'sys/net/ipv4/ip_forward', content: '1' },
      { op: 'sethostname', name: 'web-1' },
      { op: 'rlimit', resource: 7, soft: 1024n, hard: 1024n },
      { op: 'bounding', keep: caps, lastCap: 40 },
      { op: 'keepCaps' },
      { op: 'setgroups', gids: [10, 20] },
      { op: 'setgid', gid: 0 },
      { op: 'setuid', uid: 1000 },
      { op: 'capset', effective: caps, permitted: caps, inheritable: 0n },
      { op: 'ambient', caps: 0n },
      { op: 'noNewPrivs' },
      { op: 'umask', mask: 0o022 },
      { op: 'chdir', path: '/srv/www' },
      { op: 'exec', argv: ['nginx', '-g', 'daemon off;'], env: ['PATH=/usr/sbin:/usr/bin', 'HOME=/root'], searchPath: '/usr/sbin:/usr/bin' },
    ],
    NS_FLAGS.mount | NS_FLAGS.uts | NS_FLAGS.ipc | NS_FLAGS.network | NS_FLAGS.pid,
  );

  assert.deepEqual(renderPlan(plan, { rootfs: ROOTFS }), [
    'unshare --mount --uts --ipc --net --pid --propagation unchanged --fork',
    BERTH_INIT,
    '# wait: the parent writes uid/gid maps and joins the cgroup',
    'mount --make-rslave /',
    `# root: ${ROOTFS}`,
    `mount --rbind ${ROOTFS} ${ROOTFS}`,
    `mkdir -p ${ROOTFS}/proc && mount -t proc -o nosuid,nodev,noexec proc ${ROOTFS}/proc`,
    `mkdir -p ${ROOTFS}/dev && mount -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs ${ROOTFS}/dev`,
    `mknod -m 0666 ${ROOTFS}/dev/null c 1 3`,
    `ln -s /proc/self/fd ${ROOTFS}/dev/fd`,
    '# wait: the parent runs createRuntime/createContainer hooks',
    `cd ${ROOTFS} && pivot_root . . && umount -l . && cd /`,
    'if [ -d /proc/kcore ]; then mount -t tmpfs -o ro tmpfs /proc/kcore; elif [ -e /proc/kcore ]; then mount --bind /dev/null /proc/kcore; fi   # /dev/null checked to be the null device 1:3',
    'mount --rbind /proc/sys /proc/sys   # skipped when missing',
    'mount -o remount,bind,ro /proc/sys   # skipped when missing',
    "sysctl -w net.ipv4.ip_forward=1   # through the runtime's own procfs, not the container's /proc",
    'hostname web-1',
    'prlimit --pid $$ --nofile=1024:1024',
    '# keep capabilities across setuid (prctl PR_SET_KEEPCAPS): setpriv below does it as well',
    'umask 0022',
    'cd /srv/www',
    // One setpriv does every privilege step, then runs the program: a line a shell can run.
    "exec setpriv --bounding-set -all,+kill,+net_bind_service --groups 10,20 --regid 0 --reuid 1000 --inh-caps -all --ambient-caps -all --no-new-privs env -i PATH=/usr/sbin:/usr/bin HOME=/root nginx -g 'daemon off;'   # permitted and effective: kill,net_bind_service",
  ]);
});

test('no new namespaces, and the fork needed only with a PID namespace', () => {
  assert.deepEqual(renderPlan(planOf([]), { rootfs: ROOTFS }), ['# no new namespaces', BERTH_INIT]);
  assert.deepEqual(renderPlan(planOf([], NS_FLAGS.user | NS_FLAGS.network | NS_FLAGS.cgroup | NS_FLAGS.time), { rootfs: ROOTFS }), [
    'unshare --net --cgroup --user --time',
    BERTH_INIT,
  ]);
});

test('consecutive setns steps share one nsenter line', () => {
  assert.deepEqual(
    render(
      { op: 'setns', path: '/proc/123/ns/user', ns: 'user' },
      { op: 'setns', path: '/proc/123/ns/mnt', ns: 'mount' },
      { op: 'setns', path: '/proc/123/ns/net', ns: 'network' },
      { op: 'setns', path: '/proc/123/ns/pid', ns: 'pid' },
      { op: 'forkIntoPidns' },
      { op: 'setns', path: '/proc/123/ns/uts', ns: 'uts' },
    ),
    [
      'nsenter --user=/proc/123/ns/user --mount=/proc/123/ns/mnt --net=/proc/123/ns/net --pid=/proc/123/ns/pid',
      '# fork: a process joins a PID namespace only through its children',
      'nsenter --uts=/proc/123/ns/uts',
    ],
  );
});

test('mount: move, plain remount, no options, a file target and a private root', () => {
  assert.deepEqual(
    render(
      { op: 'mount', source: { path: '/a' }, target: { path: '/b' }, fstype: null, flags: MS.MOVE, data: null, create: 'none' },
      { op: 'mount', source: null, target: { inRoot: '/proc' }, fstype: null, flags: MS.REMOUNT | MS.RDONLY, data: null, create: 'none' },
      { op: 'mount', source: { path: 'sysfs' }, target: { inRoot: '/sys' }, fstype: 'sysfs', flags: 0, data: null, create: 'none' },
      {
        op: 'mount',
        source: { path: '/etc/resolv.conf' },
        target: { inRoot: '/etc/resolv.conf' },
        fstype: null,
        flags: MS.BIND,
        data: null,
        create: 'file',
      },
      { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags: MS.PRIVATE, data: null, create: 'none' },
    ),
    [
      'mount --move /a /b',
      `mount -o remount,ro ${ROOTFS}/proc`,
      `mount -t sysfs sysfs ${ROOTFS}/sys`,
      `mkdir -p ${ROOTFS}/etc && touch ${ROOTFS}/etc/resolv.conf && mount --bind /etc/resolv.conf ${ROOTFS}/etc/resolv.conf`,
      'mount --make-private /',
    ],
  );
});

test('the root as an in-root path, and moveRoot and chroot also change the view', () => {
  const bindRoot: Step = {
    op: 'mount',
    source: { inRoot: '/' },
    target: { inRoot: '/' },
    fstype: null,
    flags: MS.BIND,
    data: null,
    create: 'none',
  };
  const mask: Step = { op: 'mask', path: { inRoot: 'proc/acpi' } };
  assert.deepEqual(renderPlan(planOf([bindRoot], NS_FLAGS.mount), { rootfs: `${ROOTFS}/` }).slice(2), [`mount --bind ${ROOTFS} ${ROOTFS}`]);
  assert.deepEqual(render({ op: 'moveRoot' }, mask), [
    `cd ${ROOTFS} && mount --move . / && chroot .`,
    'if [ -d /proc/acpi ]; then mount -t tmpfs -o ro tmpfs /proc/acpi; elif [ -e /proc/acpi ]; then mount --bind /dev/null /proc/acpi; fi   # /dev/null checked to be the null device 1:3',
  ]);
  assert.deepEqual(render({ op: 'chroot' }, { op: 'chdir', path: '/' }), [`cd ${ROOTFS} && chroot .`, 'cd /']);
});

test('arguments with spaces and quotes are single-quoted', () => {
  const rootfs = "/srv/my root's";
  assert.deepEqual(
    renderPlan(
      planOf([
        { op: 'mknod', path: { inRoot: '/dev/tty' }, mode: S_IFCHR | 0o620, major: 5, minor: 0, uid: 0, gid: 5 },
        { op: 'symlink', target: 'the target', path: { inRoot: '/a link' } },
        { op: 'pivotRoot' },
        { op: 'writeProc', path: 'sys/kernel/core_pattern', content: '|/bin/false %p' },
        { op: 'writeProc', path: 'self/oom_score_adj', content: '-500' },
        { op: 'sethostname', name: 'a host' },
        { op: 'exec', argv: ['sh', '-c', "echo 'hi' $HOME"], env: ['GREETING=hello world'], searchPath: '/bin' },
      ]),
      { rootfs },
    ).slice(2),
    [
      `mknod -m 0620 '/srv/my root'\\''s/dev/tty' c 5 0 && chown 0:5 '/srv/my root'\\''s/dev/tty'`,
      `ln -s 'the target' '/srv/my root'\\''s/a link'`,
      `cd '/srv/my root'\\''s' && pivot_root . . && umount -l . && cd /`,
      "sysctl -w 'kernel.core_pattern=|/bin/false %p'   # through the runtime's own procfs, not the container's /proc",
      "echo -500 > /proc/self/oom_score_adj   # through the runtime's own procfs, not the container's /proc",
      "hostname 'a host'",
      `exec env -i 'GREETING=hello world' sh -c 'echo '\\''hi'\\'' $HOME'`,
    ],
  );
});

test('shellQuote leaves safe words bare and quotes the rest', () => {
  assert.equal(shellQuote('/usr/bin:a=b,c@d%e+f-g_h.i'), '/usr/bin:a=b,c@d%e+f-g_h.i');
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote('$HOME'), "'$HOME'");
});

test('rlimits: util-linux names, unlimited for RLIM_INFINITY', () => {
  const unlimited = 0xffffffffffffffffn;
  assert.deepEqual(
    render(
      { op: 'rlimit', resource: 4, soft: 0n, hard: unlimited },
      { op: 'rlimit', resource: 8, soft: unlimited, hard: unlimited },
      { op: 'rlimit', resource: 15, soft: 1000000n, hard: 2000000n },
    ),
    [
      'prlimit --pid $$ --core=0:unlimited',
      'prlimit --pid $$ --memlock=unlimited:unlimited',
      'prlimit --pid $$ --rttime=1000000:2000000',
    ],
  );
  assert.throws(() => render({ op: 'rlimit', resource: 16, soft: 0n, hard: 0n }), /unknown rlimit resource 16/);
});

test('a bind with flags is one mount(8) call: the executor sets them before the bind is attached', () => {
  assert.deepEqual(
    render(
      { op: 'mount', source: { inRoot: '/proc/sys' }, target: { inRoot: '/proc/sys' }, fstype: null, flags: MS.BIND | MS.REC | MS.RDONLY, data: null, create: 'none', optional: true },
      { op: 'mount', source: { path: '/srv/data' }, target: { inRoot: '/data' }, fstype: 'bind', flags: MS.BIND | MS.RDONLY | MS.NOSUID | MS.NODEV, data: null, create: 'dir' },
    ),
    [
      `mount --rbind -o ro ${ROOTFS}/proc/sys ${ROOTFS}/proc/sys   # skipped when missing`,
      `mkdir -p ${ROOTFS}/data && mount --bind -o ro,nosuid,nodev /srv/data ${ROOTFS}/data`,
    ],
  );
});

test('sysctl names with a dot in a segment keep their slashes', () => {
  assert.deepEqual(render({ op: 'writeProc', path: 'sys/net/ipv4/conf/eth0.100/forwarding', content: '1' }), [
    "sysctl -w net/ipv4/conf/eth0.100/forwarding=1   # through the runtime's own procfs, not the container's /proc",
  ]);
});

test('privileges: empty groups, different permitted and effective, ambient, capabilities past the table', () => {
  assert.deepEqual(
    render(
      { op: 'setgroups', gids: [] },
      { op: 'capset', effective: 0n, permitted: 1n << CAP_KILL, inheritable: 1n << CAP_KILL },
      { op: 'ambient', caps: 1n << CAP_NET_BIND_SERVICE },
      { op: 'bounding', keep: (1n << 0n) | (1n << 63n), lastCap: 63 },
    ),
    // Without an exec to run, setpriv's options on a line of their own.
    ['setpriv --clear-groups --inh-caps -all,+kill --ambient-caps -all,+net_bind_service --bounding-set -all,+chown,+cap_63   # permitted: kill; effective: none'],
  );
});

test('capabilities set twice around a seccomp load (CAP_SYS_ADMIN kept to load it): one setpriv option, the last set, and a note of the first', () => {
  const kill = 1n << CAP_KILL;
  const sysAdmin = 1n << 21n;
  assert.deepEqual(
    render(
      { op: 'capset', effective: kill | sysAdmin, permitted: kill | sysAdmin, inheritable: 0n },
      { op: 'seccomp', program: Buffer.alloc(8 * 12), flags: 0, listenerSocketFd: null, summary: 'default ERRNO(EPERM), 3 syscalls allowed' },
      { op: 'capset', effective: kill, permitted: kill, inheritable: 0n },
    ),
    [
      '# seccomp: default ERRNO(EPERM), 3 syscalls allowed (seccomp(SECCOMP_SET_MODE_FILTER): 12 BPF instructions)',
      'setpriv --inh-caps -all   # permitted and effective: kill (sys_admin also, until the seccomp filter is loaded)',
    ],
  );
});

test('session, console, exec FIFO, domain name', () => {
  assert.deepEqual(
    render(
      { op: 'setsid' },
      { op: 'console', socketFd: 5, rows: 24, cols: 80, bindDevConsole: false },
      { op: 'console', socketFd: 5, rows: 24, cols: 80, bindDevConsole: true },
      { op: 'execFifo', fd: 6 },
      { op: 'setdomainname', name: 'example.org' },
    ),
    [
      '# setsid: a new session',
      '# pty: open /dev/ptmx, send the master to the console socket (fd 5), make the slave stdin/stdout/stderr and the controlling terminal',
      '# pty: open /dev/ptmx, send the master to the console socket (fd 5), make the slave stdin/stdout/stderr and the controlling terminal, and bind it onto /dev/console (made in /dev, never through a symlink)',
      '# wait for start: open the exec FIFO (fd 6) for writing; blocks until `berth-runtime start`',
      'domainname example.org',
    ],
  );
});

test('seccomp: the filter in words, with its size and flags; the pause that hands its listener over', () => {
  assert.deepEqual(
    render(
      { op: 'seccomp', program: Buffer.alloc(8 * 12), flags: 2 | 8, listenerSocketFd: 7, summary: 'default ERRNO(EPERM), 3 syscalls allowed' },
      { op: 'sync', tag: SyncTag.SeccompListener },
    ),
    [
      '# seccomp: default ERRNO(EPERM), 3 syscalls allowed (seccomp(SECCOMP_SET_MODE_FILTER): 12 BPF instructions, flags LOG|NEW_LISTENER)',
      '# wait: the parent sends the seccomp listener fd and the container state to linux.seccomp.listenerPath',
    ],
  );
});

test('cgroup helpers', () => {
  assert.equal(renderCgroupWrite('/sys/fs/cgroup/berth/c1/cgroup.subtree_control', '+cpu +memory'),
    'echo "+cpu +memory" > /sys/fs/cgroup/berth/c1/cgroup.subtree_control');
  assert.equal(renderCgroupWrite('/sys/fs/cgroup/x/memory.max', 'a"$b`c\\'), 'echo "a\\"\\$b\\`c\\\\" > /sys/fs/cgroup/x/memory.max');
  assert.equal(renderMkdir('/sys/fs/cgroup/berth/my c1'), "mkdir -p '/sys/fs/cgroup/berth/my c1'");
});
