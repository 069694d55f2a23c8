// `berth run -m/--pids-limit/--cpus` as a person types them: the limits read back from inside the
// container, through its own /sys/fs/cgroup (v1 files on this hybrid host, v2 files in the pure
// cgroup v2 guest: scripts/test-v2.sh runs this file there too), and each one enforced, in one
// container: a busy loop's share of one CPU measured from the cgroup's own usage, a fork loop
// stopped at the pids limit, and at the end an allocation killed by the OOM killer (exit 137,
// OOMKilled in inspect).
//
// The runtime's side of the same limits (from a config.json) is test/cgroups-enforcement.test.ts;
// this file holds the engine's flags to them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageStore } from '../src/image/index.js';
import { buildTestImage, busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { berthRoot, hostMountsMentioning } from './helpers/berth-cli.js';
import { cgroupDirsOf, unique } from './helpers/run.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
const SLOW = Math.max(1, Number(process.env.BERTH_TEST_SLOW) || 1);
const MiB = 1024 * 1024;

/**
 * Run inside the container. Prints the limits as the cgroup files say them, then measures up to
 * three 2 s windows of a busy loop's CPU use (cgroup usage over /proc/uptime's time, in tenths of
 * a percent of one CPU) until one lands within 30 % ± 5, then a shell forks sleeps until a fork
 * fails (ash then exits), then — only when the memory limit is the one asked for, so that a
 * broken berth cannot eat the host's memory — `tail /dev/zero` as PID 1 keeps one endless line.
 */
const SCRIPT = `
cg=/sys/fs/cgroup
if [ -e $cg/cgroup.controllers ]; then
  read memory < $cg/memory.max; read pids < $cg/pids.max; read cpu < $cg/cpu.max
  usage() { sed -n 's/^usage_usec //p' $cg/cpu.stat; }
else
  read memory < $cg/memory/memory.limit_in_bytes; read pids < $cg/pids/pids.max
  read quota < $cg/cpu/cpu.cfs_quota_us; read period < $cg/cpu/cpu.cfs_period_us; cpu="$quota $period"
  usage() { echo $(( $(cat $cg/cpuacct/cpuacct.usage) / 1000 )); }
fi
echo "memory $memory"; echo "pids $pids"; echo "cpu $cpu"
while :; do :; done &
sleep 0.3
for window in 1 2 3; do
  u0=$(usage); read t0 rest < /proc/uptime; sleep 2; u1=$(usage); read t1 rest < /proc/uptime
  t0=\${t0%.*}\${t0#*.}; t1=\${t1%.*}\${t1#*.}
  share=$(( (u1 - u0) / ((t1 - t0) * 10) ))
  echo "cpu share $share over $((t1 - t0))0 ms"
  [ $share -ge 250 ] && [ $share -le 350 ] && break
done
kill %1; wait
sh -c 'i=0; while [ $i -lt 100 ]; do sleep 1000 & i=$((i + 1)); echo $i > /tmp/forks; done' 2> /tmp/fork-error
read forks < /tmp/forks; read error < /tmp/fork-error
echo "forks $forks: $error"
kill -9 -1
[ "$memory" = ${32 * MiB} ] || exit 99
exec tail /dev/zero
`;

test('run -m 32m --pids-limit 20 --cpus 0.3: the limits read inside the container, the CPU share near 30 %, forks stop at the limit, the OOM kill is exit 137 and OOMKilled', { skip, timeout: 120_000 * SLOW }, async (t) => {
  const { root, berth } = berthRoot(t, 'limits');
  await buildTestImage(new ImageStore(root), 'limits:1');
  const name = unique('limits');
  const r = berth('run', '--name', name, '--network', 'none', '-m', '32m', '--pids-limit', '20', '--cpus', '0.3', 'limits:1', 'sh', '-c', SCRIPT);
  const said = `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 3), [`memory ${32 * MiB}`, 'pids 20', 'cpu 30000 100000'], said);

  const windows = lines.filter((l) => l.startsWith('cpu share '));
  t.diagnostic(`--cpus 0.3: ${windows.map((l) => l.replace(/^cpu share (\d+)/, (_, p) => `${Number(p) / 10} %`)).join(', then ')}`);
  const share = Number(/^cpu share (\d+) /.exec(windows[windows.length - 1] ?? '')?.[1]) / 10;
  assert.ok(share >= 25 && share <= 35, `a busy loop under --cpus 0.3 used ${share} % of one CPU, not 30 ± 5:\n${said}`);

  // PID 1 and the forking shell, and 18 sleeps: the 19th fork is the 21st task, refused (EAGAIN).
  assert.ok(lines.includes("forks 18: sh: can't fork: Resource temporarily unavailable"), said);

  assert.equal(r.status, 137, `tail /dev/zero under -m 32m was not OOM-killed:\n${said}`);
  const inspect = JSON.parse(berth('inspect', name).stdout)[0];
  assert.deepEqual([inspect.State.ExitCode, inspect.State.OOMKilled], [137, true]);
  assert.deepEqual([inspect.HostConfig.Memory, inspect.HostConfig.PidsLimit, inspect.HostConfig.NanoCpus], [32 * MiB, 20, 300_000_000]);
  assert.deepEqual(cgroupDirsOf(`/berth/${inspect.Id}`), [], 'the container\'s cgroup is left after its exit');
  assert.deepEqual(hostMountsMentioning(root), []);
});
