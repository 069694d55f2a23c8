// Chapter 3: namespaces. The kernel gives the container its own numbering of processes, its own
// hostname and its own table of mounts; each is looked at from inside and, while the container
// runs, from the host.
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { finding, note } from '../narrator.js';
import { didRun, matching, type Chapter } from '../chapter.js';
import type { RunRequest } from '../session.js';

/** The process ids of /proc: every process this (host) PID namespace sees. */
function hostProcessCount(): number {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
}

function nspidOf(pid: number): string {
  return /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].trim().replace(/\s+/g, ' ') ?? '';
}

const TOUR_HOSTNAME = 'tour-inside';

export const namespacesChapter: Chapter = {
  name: 'namespaces',
  title: 'namespaces',
  about: [
    'A namespace gives a process its own copy of one kind of thing the kernel names: process ids,',
    'the hostname, the table of mounts, the network... The container gets a new one of each.',
  ],
  async run({ session, narrator }) {
    let host = { nspid: '', processes: 0 };
    const pidReq: RunRequest = {
      command: ['sh', '-c', 'echo "my PID is $$"; ps; read _'],
      whileRunning: async ({ pid }) => {
        host = { nspid: nspidOf(pid), processes: hostProcessCount() };
      },
    };
    await narrator.step([session.runCommand(pidReq), `grep NSpid /proc/PID/status; ls /proc | grep -c '^[0-9]'    # on the host while it waits in read (PID: its process)`], async () => {
      const run = await session.run(pidReq);
      const psLines = run.output.split('\n').filter((l) => /^\s*\d+\s/.test(l));
      const [hostPid, innerPid] = host.nspid.split(' ');
      return {
        did: didRun(run, matching(/^unshare/, /^# fork/)),
        output: `${run.output}-- on the host:\nNSpid:\t${host.nspid.replace(' ', '\t')}\n${host.processes}\n`,
        shows: [
          finding(/my PID is 1\b/.test(run.output) && psLines.length > 0 && psLines.length <= 3, `Inside, the shell is PID 1 and ps sees ${psLines.length} processes: its own (a new PID namespace numbers from 1 and shows only its members).`, `inside, the shell was not PID 1 alone with its children:\n${run.output}`),
          finding(innerPid === '1' && Number(hostPid) > 1, `The kernel keeps both numbers of one process (NSpid): ${hostPid} on the host, 1 inside; the host sees its ${host.processes} processes, the container none of them.`, `NSpid of the container's process: "${host.nspid}"`),
        ],
      };
    });

    const nameReq: RunRequest = { hostname: TOUR_HOSTNAME, command: ['hostname'] };
    await narrator.step([session.runCommand(nameReq), 'hostname    # on the host'], async () => {
      const before = hostname();
      const run = await session.run(nameReq);
      const after = hostname();
      return {
        did: didRun(run, matching(/^unshare/, /^hostname /)),
        output: `${run.output}-- on the host:\n${after}\n`,
        shows: [finding(run.output.trim() === TOUR_HOSTNAME && before === after && after !== TOUR_HOSTNAME, `sethostname in the container's own UTS namespace: "${TOUR_HOSTNAME}" inside, "${after}" on the host, as before.`, `hostname inside "${run.output.trim()}", on the host "${before}" then "${after}"`)],
      };
    });

    let tables = { host: 0, container: '' };
    const mountReq: RunRequest = {
      tmpfs: ['/scratch'],
      command: ['sh', '-c', 'echo hi > /scratch/note && grep /scratch /proc/self/mountinfo; read _'],
      whileRunning: async ({ record, pid }) => {
        const has = (table: string, text: string) => table.split('\n').filter((l) => l.includes(text));
        tables = { host: has(readFileSync('/proc/self/mountinfo', 'utf8'), record.id).length, container: has(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'), ' /scratch ').join('\n') };
      },
    };
    await narrator.step([session.runCommand(mountReq), `grep -c $ID /proc/self/mountinfo; grep ' /scratch ' /proc/PID/mountinfo    # on the host, while it runs`], async () => {
      const run = await session.run(mountReq);
      return {
        did: didRun(run, matching(/^unshare/, /scratch/, /^mount --make-rslave/)),
        output: `${run.output}-- on the host:\n${tables.host}\n${tables.container}\n`,
        shows: [
          finding(/ \/scratch .* - tmpfs /.test(run.output) && tables.container !== '', 'Inside, /scratch is a tmpfs; the host can see it only by looking into the container\'s own table of mounts, /proc/PID/mountinfo.', 'the tmpfs was not in the container\'s table of mounts'),
          finding(tables.host === 0, 'The host\'s table lists none of the container\'s mounts, not even its rootfs: they were made in its own mount namespace, and / was made a slave first, so nothing propagates back.', `the host's table lists ${tables.host} mounts of the container`),
          note('When the container\'s last process exits, its mount namespace and every mount in it go: there is nothing to unmount.'),
        ],
      };
    });
  },
};
