// What berth's networking changes on the host beyond its own interfaces and rules, and gives back
// only on purpose: ip_forward (turned on and left on, as docker does) and the /run/netns bind mount
// that `ip netns add` makes on first use (left, as iproute2 leaves it). A test file that runs
// containers on a bridge records both first and puts them back after.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const FORWARD = '/proc/sys/net/ipv4/ip_forward';
const NETNS_DIR = '/run/netns';

function netnsDirMounted(): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === NETNS_DIR);
}

/** Records the host's state now; the function returned restores it (call it in `after`). */
export function saveHostNetwork(): () => void {
  const forwarding = readFileSync(FORWARD, 'utf8').trim();
  const dirExisted = existsSync(NETNS_DIR);
  const mounted = netnsDirMounted();
  return () => {
    writeFileSync(FORWARD, forwarding);
    // Only when no namespace is left in it: another tool's would keep it busy, and must keep it.
    const empty = !existsSync(NETNS_DIR) || readdirSync(NETNS_DIR).length === 0;
    if (!mounted && netnsDirMounted() && empty) spawnSync('umount', [NETNS_DIR]);
    if (!dirExisted && empty && !netnsDirMounted() && existsSync(NETNS_DIR)) rmdirSync(NETNS_DIR);
  };
}
