// docker's host options of `berth run`/`create`, seen from inside the container: --device (the
// node's type and numbers, and the cgroup letting it be opened only as its permissions say; a
// directory of devices), --device-cgroup-rule (a node made inside becomes usable), --sysctl,
// --ulimit, --group-add, --shm-size and --oom-score-adj; exec gets the container's score and
// groups; inspect shows docker's HostConfig fields; bad values are one line, exit 125, nothing
// left. On the hybrid host the device rules are cgroup v1's devices.allow, in the v2 guest an
// eBPF program (scripts/test-v2.sh runs this file there).
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { berthRoot, ok, PROJECT, type Berth } from './helpers/berth-cli.js';

const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
// In the emulated cgroup v2 guest (scripts/test-v2.sh sets BERTH_TEST_SLOW) only the first test
// runs: the others do not depend on the cgroup driver and take a minute each there.
const skipInGuest = skip || (process.env.BERTH_TEST_SLOW ? 'the same on both cgroup drivers: run on the host only' : false);
const TEST_TMP = process.env.BERTH_TEST_TMP ?? '/tmp';

function scratch(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(TEST_TMP, `berth-hostopt-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Debian's busybox with an `audio` group (29) and a `media` group (77) in its /etc/group, imported as `ref`. */
function image(t: TestContext, berth: Berth, ref: string): void {
  const dir = scratch(t, 'image');
  execFileSync(join(PROJECT, 'scripts/busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
  const rootfs = join(dir, 'bundle/rootfs');
  execFileSync('sh', ['-c', `printf 'audio:x:29:\\nmedia:x:77:\\n' >> ${rootfs}/etc/group`]);
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  ok(berth('import', tar, ref));
}

/**
 * A shell function for inside the container: `try r|w|rw PATH` opens the node so and prints
 * `denied` when the device cgroup refused it (EPERM, "Operation not permitted"), else `allowed`:
 * opened, or refused by the driver behind it (a guest without the fuse module: ENXIO, ENODEV),
 * which only a node the cgroup let through reaches.
 */
const TRY = `try() { case $1 in r) (exec 3<"$2") ;; w) (exec 3>"$2") ;; rw) (exec 3<>"$2") ;; esac 2>/tmp/err; if grep -q 'Operation not permitted' /tmp/err; then echo "$1 $2: denied"; else echo "$1 $2: allowed"; fi; }`;

/** `stat -c '%F %t:%T'` as busybox prints it: "character special file a:e5" (hex numbers). */
const node = (major: number, minor: number) => `character special file ${major.toString(16)}:${minor.toString(16)}`;

/** The lines of `out` that start with `key`, without it. */
function field(out: string, key: string): string {
  const line = out.split('\n').find((l) => l.startsWith(`${key}=`));
  assert.ok(line !== undefined, `no ${key}= in:\n${out}`);
  return line.slice(key.length + 1);
}

describe('berth run: docker host options', { skip }, () => {
  test('--device (one node :r, a symlink to one, a directory), --device-cgroup-rule, --sysctl, --ulimit, --group-add, --shm-size, --oom-score-adj: seen inside the container', (t) => {
    const { berth } = berthRoot(t, 'hostopt');
    image(t, berth, 'hostopt:bb');
    // Nodes of the host's own devices, made in a scratch directory: fuse (10:229) and loop0 (block
    // 7:0), neither among the devices every container may use; loop-control (10:237) is the
    // --device-cgroup-rule's.
    const devs = scratch(t, 'devs');
    mkdirSync(join(devs, 'dir/sub'), { recursive: true });
    execFileSync('mknod', ['-m', '600', join(devs, 'fuse'), 'c', '10', '229']);
    execFileSync('mknod', ['-m', '640', join(devs, 'dir/sub/loop'), 'b', '7', '0']);
    symlinkSync(join(devs, 'fuse'), join(devs, 'fuse-link'));
    writeFileSync(join(devs, 'dir/not-a-device'), 'x');
    const script = [
      TRY,
      'echo "fuse=$(stat -c "%F %t:%T %a" /dev/myfuse)"',
      'echo "link=$(stat -c "%F %t:%T" /dev/linked)"',
      'echo "dir=$(stat -c "%F %t:%T %a" /dev/mine/sub/loop)"',
      'echo "dirfiles=$(find /dev/mine | sort | tr "\\n" " ")"',
      'echo "fuse-r=$(try r /dev/myfuse)"',
      'echo "fuse-w=$(try w /dev/myfuse)"',
      'echo "dir-rw=$(try rw /dev/mine/sub/loop)"',
      // --device-cgroup-rule 'c 10:237 rw': a node made inside opens for reading and writing.
      'mknod /tmp/lc c 10 237',
      'echo "rule-rw=$(try rw /tmp/lc)"',
      'mknod /tmp/fuse c 10 229',
      'echo "rule-other=$(try w /tmp/fuse)"',
      'echo "shmmax=$(cat /proc/sys/kernel/shmmax)"',
      'echo "mqueue=$(cat /proc/sys/fs/mqueue/msg_max)"',
      'echo "net=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"',
      'echo "nofile=$(ulimit -n) $(ulimit -Hn)"',
      'echo "nproc=$(ulimit -u)"',
      'echo "id=$(id)"',
      'echo "shm=$(df -k /dev/shm | tail -1)"',
      'echo "oom=$(cat /proc/self/oom_score_adj)"',
    ].join('\n');
    const out = ok(
      berth(
        'run', '--rm', '--network', 'none',
        '--device', `${join(devs, 'fuse')}:/dev/myfuse:r`,
        '--device', `${join(devs, 'fuse-link')}:/dev/linked:r`,
        '--device', `${join(devs, 'dir')}:/dev/mine`,
        '--device-cgroup-rule', 'c 10:237 rw',
        '--sysctl', 'kernel.shmmax=123456789', '--sysctl', 'fs.mqueue.msg_max=33', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=99',
        '--ulimit', 'nofile=1000:2000', '--ulimit', 'nproc=345',
        '--group-add', 'audio', '--group-add', '4242',
        '--shm-size', '32m',
        '--oom-score-adj', '321',
        'hostopt:bb', 'sh', '-c', script,
      ),
    );
    // The nodes: the host node's type, numbers and mode.
    assert.equal(field(out, 'fuse'), `${node(10, 229)} 600`);
    assert.equal(field(out, 'link'), node(10, 229));
    assert.equal(field(out, 'dir'), `block special file 7:0 640`);
    assert.equal(field(out, 'dirfiles'), '/dev/mine /dev/mine/sub /dev/mine/sub/loop ', 'only the directory\'s device nodes, at their paths under it');
    // The cgroup: :r opens for reading only; the directory's nodes with rwm; the rule's device rw,
    // and a device no rule names not at all.
    assert.equal(field(out, 'fuse-r'), 'r /dev/myfuse: allowed');
    assert.equal(field(out, 'fuse-w'), 'w /dev/myfuse: denied');
    assert.equal(field(out, 'dir-rw'), 'rw /dev/mine/sub/loop: allowed');
    assert.equal(field(out, 'rule-rw'), 'rw /tmp/lc: allowed');
    assert.equal(field(out, 'rule-other'), 'w /tmp/fuse: denied');
    assert.equal(field(out, 'shmmax'), '123456789');
    assert.equal(field(out, 'mqueue'), '33');
    assert.equal(field(out, 'net'), '99');
    assert.equal(field(out, 'nofile'), '1000 2000');
    assert.equal(field(out, 'nproc'), '345');
    assert.match(field(out, 'id'), /^uid=0\(root\) gid=0\(root\) groups=.*\b29\(audio\),4242$/);
    assert.match(field(out, 'shm'), /^shm\s+32768\s/, '32 MiB of /dev/shm');
    assert.equal(field(out, 'oom'), '321');
  });

  test('defaults as docker: 64 MiB /dev/shm; exec gets the container\'s --oom-score-adj and --group-add (also with -u); inspect shows HostConfig', { skip: skipInGuest }, async (t) => {
    const { berth } = berthRoot(t, 'hostopt-exec');
    image(t, berth, 'hostopt:bb');
    const plain = ok(berth('create', '--shm-size', '0', 'hostopt:bb', 'true')).trim(); // 0: docker's default
    const plainHost = JSON.parse(ok(berth('inspect', '-f', '{{json .HostConfig}}', plain)));
    assert.equal(plainHost.ShmSize, 64 * 1024 * 1024);
    assert.deepEqual([plainHost.Devices, plainHost.DeviceCgroupRules, plainHost.Ulimits, plainHost.GroupAdd, plainHost.OomScoreAdj, plainHost.Sysctls], [[], null, [], null, 0, undefined]);

    const id = ok(berth('run', '-d', '--oom-score-adj', '200', '--group-add', 'media', '--device', '/dev/null:/dev/other-null:rw', '--device-cgroup-rule', 'b 7:* r', '--sysctl', 'net.core.somaxconn=1000', '--ulimit', 'core=0:-1', '--network', 'none', 'hostopt:bb', 'sleep', '1000')).trim();
    assert.equal(ok(berth('exec', id, 'sh', '-c', 'df -k /dev/shm | tail -1')).match(/^shm\s+(\d+)\s/)?.[1], '65536', 'docker\'s 64 MiB');
    assert.equal(ok(berth('exec', id, 'cat', '/proc/self/oom_score_adj')).trim(), '200');
    assert.match(ok(berth('exec', id, 'id')).trim(), /groups=77\(media\)$/);
    assert.match(ok(berth('exec', '-u', '0:0', id, 'id')).trim(), /groups=77\(media\)$/);
    const host = JSON.parse(ok(berth('inspect', '-f', '{{json .HostConfig}}', id)));
    assert.deepEqual(
      { Devices: host.Devices, DeviceCgroupRules: host.DeviceCgroupRules, Sysctls: host.Sysctls, Ulimits: host.Ulimits, GroupAdd: host.GroupAdd, ShmSize: host.ShmSize, OomScoreAdj: host.OomScoreAdj },
      {
        Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/other-null', CgroupPermissions: 'rw' }],
        DeviceCgroupRules: ['b 7:* r'],
        Sysctls: { 'net.core.somaxconn': '1000' },
        Ulimits: [{ Name: 'core', Soft: 0, Hard: -1 }],
        GroupAdd: ['media'],
        ShmSize: 64 * 1024 * 1024,
        OomScoreAdj: 200,
      },
    );
  });

  test('bad values: one line naming the flag and value, exit 125, no container, nothing left', { skip: skipInGuest }, (t) => {
    const { berth, root } = berthRoot(t, 'hostopt-bad');
    image(t, berth, 'hostopt:bb');
    const notDevice = join(scratch(t, 'nodev'), 'file');
    writeFileSync(notDevice, 'x');
    const cases: [string[], RegExp][] = [
      [['--device', '/dev/no-such-device'], /^berth: --device: error gathering device information while adding custom device "\/dev\/no-such-device": no such file or directory$/],
      [['--device', notDevice], /custom device ".*\/file": not a device node$/],
      [['--device', '/dev/null:dev/x'], /--device \/dev\/null:dev\/x: dev\/x is not an absolute path$/],
      [['--device', '/dev/null:/dev/x:rwq'], /--device \/dev\/null:\/dev\/x:rwq: bad mode specified: rwq$/],
      [['--device-cgroup-rule', 'c 1:3 rwx'], /--device-cgroup-rule: invalid device cgroup format 'c 1:3 rwx'/],
      [['--device-cgroup-rule', 'c 1 rw'], /--device-cgroup-rule: invalid device cgroup format 'c 1 rw'/],
      [['--sysctl', 'kernel.panic=1'], /--sysctl: sysctl 'kernel.panic' is not allowed/],
      [['--sysctl', 'vm.swappiness=1'], /--sysctl: sysctl 'vm.swappiness' is not allowed/],
      [['--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1'], /--sysctl net.ipv4.ip_forward: not allowed in the host's network namespace/],
      [['--ulimit', 'nofiles=10'], /--ulimit: invalid ulimit type: nofiles/],
      [['--ulimit', 'nofile=20:10'], /--ulimit nofile: ulimit soft limit must be less than or equal to hard limit: 20 > 10/],
      [['--ulimit', 'nofile=ten'], /--ulimit nofile=ten: not an integer/],
      [['--group-add', 'no-such-group'], /--group-add no-such-group: unable to find group no-such-group/],
      [['--shm-size', '-1'], /--shm-size: -1: SHM size can not be less than 0/],
      [['--shm-size', 'big'], /--shm-size: not a size: "big"/],
      [['--oom-score-adj', '1001'], /--oom-score-adj: invalid value 1001, range for oom score adj is \[-1000, 1000\]/],
      [['--oom-score-adj', '-1001'], /--oom-score-adj: invalid value -1001/],
    ];
    // Each through run; those checked after the image is read (a group name, a device path, the
    // network) through create too.
    const alsoCreate = new Set(['--device', '--group-add', '--network']);
    for (const [flags, message] of cases) {
      for (const verb of alsoCreate.has(flags[0]) ? ['run', 'create'] : ['run']) {
        const r = berth(verb, ...(verb === 'run' ? ['--rm'] : []), ...flags, 'hostopt:bb', 'true');
        assert.equal(r.status, 125, `${verb} ${flags.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, `${verb} ${flags.join(' ')}: one line: ${r.stderr}`);
        assert.match(r.stderr.trim(), message, `${verb} ${flags.join(' ')}`);
        assert.equal(r.stdout, '', `${verb} ${flags.join(' ')}: nothing printed`);
      }
    }
    assert.equal(ok(berth('ps', '-aq')), '', 'no container was made');
    const containers = join(root, 'containers');
    assert.deepEqual(existsSync(containers) ? readdirSync(containers) : [], [], 'no container directory left');
  });
});
