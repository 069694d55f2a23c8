// What a process sees from inside a container berth-runtime built: its own PID namespace, hostname
// and mounts, nothing of the host's filesystem, only fds 0-2, no inheritable capabilities, masked
// and read-only paths in force. Real containers, asserted from inside (busybox and the probe).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { addCapabilities, bindMount, editConfig, makeBundle, type Bundle } from './helpers/bundle.js';
import { hostMountsUnder, isAlivePid, lastLine, runtime, runtimeOk, show, tempRoot, unique, waitFor } from './helpers/run.js';
import { defaultSpec } from '../src/runtime/default-spec.js';

interface MountLine {
  root: string;
  mountPoint: string;
  options: string[];
  fstype: string;
  line: string;
}

/** /proc/PID/mountinfo: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`. */
function parseMountinfo(text: string): MountLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const f = line.split(' ');
      const dash = f.indexOf('-');
      return { root: unescapeOctal(f[3]), mountPoint: unescapeOctal(f[4]), options: f[5].split(','), fstype: f[dash + 1], line };
    });
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The sections a script printed, each after a `== NAME` line. */
function sections(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    const head = /^== (\S+)$/.exec(line);
    if (head) out.set(head[1], (current = []));
    else if (current && line !== '') current.push(line);
  }
  return out;
}

const spec = defaultSpec();
const MASKED = (spec.linux?.maskedPaths ?? []).filter((p) => existsSync(p));
const READONLY = (spec.linux?.readonlyPaths ?? []).filter((p) => existsSync(p));
const INSIDE_SCRIPT = `
echo "== pid"; echo $$
echo "== ps"; ps -o pid,comm
echo "== hostname"; hostname
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== masked"
for p in ${MASKED.join(' ')}; do
  if [ -d "$p" ]; then echo "$p dir-entries $(ls -A "$p" | wc -l)"
  elif [ -e "$p" ]; then echo "$p $(probe read "$p")"
  else echo "$p MISSING"; fi
done
echo "== readonly"
for p in /proc/sys/kernel/domainname /etc/passwd; do echo "$p $(probe write "$p" x)"; done
echo "== end"
`;

describe('inside a container of the default spec', () => {
  const host = unique('berth-inside');
  let bundle: Bundle;
  let output: Map<string, string[]>;
  const cleanups: (() => void)[] = [];

  before(async () => {
    bundle = await makeBundle({ args: ['sh', '-c', INSIDE_SCRIPT], probe: true, edit: (s) => (s.hostname = host) });
    cleanups.push(bundle.cleanup);
    const root = mkdtempSync('/tmp/berth-test-root-');
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('inside'));
    assert.equal(r.status, 0, show(r));
    output = sections(r.stdout);
    assert.ok(output.has('end'), `the script did not finish:\n${show(r)}`);
  });
  after(() => cleanups.reverse().forEach((f) => f()));

  test('the process is PID 1', () => {
    assert.deepEqual(output.get('pid'), ['1']);
  });

  test('ps shows only the container’s own processes: its init and ps itself', () => {
    const rows = (output.get('ps') ?? []).slice(1).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(
      rows.map(([, comm]) => comm),
      ['sh', 'ps'],
      (output.get('ps') ?? []).join('\n'),
    );
    assert.equal(rows[0][0], '1');
  });

  test('the hostname is the spec’s, not the host’s', () => {
    assert.deepEqual(output.get('hostname'), [host]);
    assert.notEqual(host, hostname());
  });

  test('/proc/self/mountinfo shows no host path and no trace of the old root', () => {
    const mounts = parseMountinfo((output.get('mountinfo') ?? []).join('\n'));
    const text = mounts.map((m) => m.line).join('\n');
    // Only the container's own mount points: its root and what the spec mounts under /proc, /dev, /sys.
    for (const m of mounts) {
      assert.match(m.mountPoint, /^\/$|^\/(proc|dev|sys)(\/|$)/, `a mount point outside the container's own: ${m.line}`);
      assert.ok(!m.mountPoint.includes(bundle.dir), m.line);
    }
    // One root, the rootfs bind. Its `root` field is the rootfs's path within its filesystem: the
    // kernel describes every bind mount so (runc's and crun's containers show the same); no other
    // line may name a host path.
    const roots = mounts.filter((m) => m.mountPoint === '/');
    assert.equal(roots.length, 1, `more than one mount on / (the old root?):\n${text}`);
    assert.equal(roots[0].root, bundle.rootfs);
    for (const m of mounts.filter((x) => x.mountPoint !== '/')) {
      assert.ok(!m.root.includes(bundle.dir) && !m.root.startsWith('/tmp/'), `a host path in: ${m.line}`);
    }
    // The host's own root (root "/" of the filesystem the bundle lives on) is not mounted anywhere.
    const rootDevice = roots[0].line.split(' ')[2];
    assert.equal(mounts.filter((m) => m.line.split(' ')[2] === rootDevice).length, 1, `the host's filesystem is mounted again:\n${text}`);
  });

  test('the root and the read-only paths refuse writes', () => {
    const mounts = parseMountinfo((output.get('mountinfo') ?? []).join('\n'));
    for (const path of READONLY) {
      const m = mounts.find((x) => x.mountPoint === path);
      assert.ok(m, `${path} is not a mount of its own`);
      assert.ok(m.options.includes('ro'), `${path} is not read-only: ${m.line}`);
    }
    assert.deepEqual(output.get('readonly'), ['/proc/sys/kernel/domainname ERROR EROFS', '/etc/passwd ERROR EROFS']);
  });

  test('masked paths read empty', () => {
    assert.ok(MASKED.length > 0, 'no masked path of the default spec exists on this host');
    const lines = output.get('masked') ?? [];
    for (const path of MASKED) {
      const line = lines.find((l) => l.startsWith(path + ' '));
      assert.ok(line, `no line for ${path}`);
      assert.match(line, / (dir-entries 0|BYTES 0|ERROR \S+)$/, `${path} is readable`);
    }
  });
});

describe('what the process inherits', () => {
  test('only fds 0, 1 and 2 are open', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['probe', 'fds'], probe: true });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('fds'));
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, '0\n1\n2\n');
  });

  test('no inheritable or ambient capabilities; bounding, permitted, effective as the spec says', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['probe', 'caps'], probe: true });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('caps'));
    assert.equal(r.status, 0, show(r));
    const caps = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
    // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10): the default spec's three.
    const three = ((1n << 29n) | (1n << 5n) | (1n << 10n)).toString(16).padStart(16, '0');
    assert.deepEqual(caps, { CapInh: '0000000000000000', CapPrm: three, CapEff: three, CapBnd: three, CapAmb: '0000000000000000' });
  });
});

describe('a cwd of /proc/self/fd/N (CVE-2024-21626) is refused or stays inside', () => {
  const FDS = [3, 4, 5, 6, 7, 8];

  /** A cwd the probe printed must be a path of the container's, never "(unreachable)/..." or a host path. */
  function assertInside(r: ReturnType<typeof runtime>, bundle: Bundle, what: string): void {
    if (r.status === 0) {
      const cwd = r.stdout.trim();
      assert.match(cwd, /^\//, `${what}: cwd ${cwd}`);
      assert.ok(!cwd.includes(bundle.dir) && !cwd.startsWith('/tmp') && !cwd.startsWith('/run'), `${what}: cwd is a host path: ${cwd}`);
      assert.ok(['/', '/proc', '/dev', '/sys'].some((p) => cwd === p || cwd.startsWith(p + '/')), `${what}: unexpected cwd ${cwd}`);
    } else {
      assert.match(lastLine(r.stderr), /^berth-runtime: chdir \/proc\/self\/fd\/\d+: E[A-Z]+ /, `${what}: ${show(r)}`);
      assert.equal(r.stdout, '', `${what}: the process ran after all`);
    }
  }

  test('as process.cwd of the container', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['probe', 'cwd'], probe: true });
    t.after(bundle.cleanup);
    for (const fd of FDS) {
      editConfig(bundle, (s) => (s.process.cwd = `/proc/self/fd/${fd}`));
      const id = unique(`cwd${fd}`);
      assertInside(runtime(root, 'run', '--bundle', bundle.dir, id), bundle, `cwd /proc/self/fd/${fd}`);
      assert.deepEqual(readdirSync(root), []);
    }
  });

  test('as exec --cwd into a running container', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'], probe: true });
    t.after(bundle.cleanup);
    const id = unique('cwd-exec');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    for (const fd of FDS) {
      assertInside(runtime(root, 'exec', '--cwd', `/proc/self/fd/${fd}`, id, 'probe', 'cwd'), bundle, `exec --cwd /proc/self/fd/${fd}`);
    }
  });
});

test('a tmpfs mounted inside the container is invisible on the host (the seed’s unshare --mount experiment)', async (t) => {
  const root = tempRoot(t);
  const signals = mkdtempSync('/tmp/berth-test-signals-');
  t.after(() => rmSync(signals, { recursive: true, force: true }));
  const bundle = await makeBundle({
    args: ['sh', '-c', 'mount -t tmpfs none /mnt && echo inside > /mnt/file && touch /signals/mounted && while [ ! -e /signals/go ]; do sleep 0.02; done'],
    setup: (rootfs) => mkdirSync(join(rootfs, 'mnt')),
    edit: (s) => {
      addCapabilities(s, 'CAP_SYS_ADMIN');
      bindMount(s, signals, '/signals');
    },
  });
  t.after(bundle.cleanup);
  const id = unique('tmpfs');
  runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
  const pid = (JSON.parse(runtimeOk(root, 'state', id)) as { pid: number }).pid;
  await waitFor('the container to mount its tmpfs', () => existsSync(join(signals, 'mounted')));

  // Inside, the tmpfs is there; on the host, while the container holds it: not in the host's mount
  // table, not a mount point, and the directory is empty.
  assert.equal(runtimeOk(root, 'exec', id, 'cat', '/mnt/file'), 'inside\n');
  const mnt = join(bundle.rootfs, 'mnt');
  assert.deepEqual(hostMountsUnder(bundle.dir), []);
  assert.equal(statSync(mnt).dev, statSync(bundle.rootfs).dev, `${mnt} is a mount point on the host`);
  assert.deepEqual(readdirSync(mnt), []);

  writeFileSync(join(signals, 'go'), '');
  await waitFor('the container to exit', () => !isAlivePid(pid));
  runtimeOk(root, 'delete', id);
  assert.deepEqual(readdirSync(mnt), []);
  assert.deepEqual(hostMountsUnder(bundle.dir), []);
});
