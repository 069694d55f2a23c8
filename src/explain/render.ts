// A plan as the shell lines a person would type in a root shell to do the same by hand, with
// util-linux and coreutils tools. `--explain` prints these; they teach, so each line names the
// tool a reader can look up in its man page, and steps no tool does alone become comments.

import { posix } from 'node:path';
import { MS, NS_FLAGS, RLIMIT_NAMES, rlimitText, SECCOMP_FILTER_FLAG, SyncTag, type NamespaceKind, type PathRef, type Plan, type Step } from '../kernel/plan.js';
import { CAPABILITIES } from '../kernel/capabilities.js';

/** Where in-root paths are: under the rootfs on the host until the root changes, at `/` after. */
interface View {
  rootfs: string;
  insideRoot: boolean;
}

type StepOf<Op extends Step['op']> = Extract<Step, { op: Op }>;
type SetnsStep = StepOf<'setns'>;
type SingleStep = Exclude<Step, SetnsStep>;

/** Steps after which the container's root is `/`. */
const ROOT_CHANGING_OPS: ReadonlySet<Step['op']> = new Set(['pivotRoot', 'moveRoot', 'chroot']);

/** util-linux's option names for each namespace (unshare and nsenter share them), in unshare's usual order. */
const NS_OPTION: Record<NamespaceKind, string> = {
  mount: 'mount',
  uts: 'uts',
  ipc: 'ipc',
  network: 'net',
  pid: 'pid',
  cgroup: 'cgroup',
  user: 'user',
  time: 'time',
};

/** mount(8) option names of the mount(2) flags that are options rather than operations. */
const MOUNT_FLAG_OPTIONS: [flag: number, option: string][] = [
  [MS.RDONLY, 'ro'],
  [MS.NOSUID, 'nosuid'],
  [MS.NODEV, 'nodev'],
  [MS.NOEXEC, 'noexec'],
  [MS.NOATIME, 'noatime'],
  [MS.RELATIME, 'relatime'],
  [MS.STRICTATIME, 'strictatime'],
  [MS.NODIRATIME, 'nodiratime'],
  [MS.LAZYTIME, 'lazytime'],
  [MS.SYNCHRONOUS, 'sync'],
  [MS.DIRSYNC, 'dirsync'],
  [MS.MANDLOCK, 'mand'],
  [MS.NOSYMFOLLOW, 'nosymfollow'],
  [MS.SILENT, 'silent'],
];

/** mount(8)'s `--make-*` names of the propagation flags. */
const PROPAGATION_OPTIONS: [flag: number, name: string][] = [
  [MS.PRIVATE, 'private'],
  [MS.SLAVE, 'slave'],
  [MS.SHARED, 'shared'],
  [MS.UNBINDABLE, 'unbindable'],
];

const S_IFMT = 0o170000;
const MKNOD_TYPES: Record<number, string> = { 0o020000: 'c', 0o060000: 'b', 0o010000: 'p' };

const SYNC_COMMENTS: Record<SyncTag, string> = {
  [SyncTag.Created]: '# wait: the parent writes uid/gid maps and joins the cgroup',
  [SyncTag.BeforePivot]: '# wait: the parent runs createRuntime/createContainer hooks',
  [SyncTag.SeccompListener]: '# wait: the parent sends the seccomp listener fd and the container state to linux.seccomp.listenerPath',
};

/** The child's first act (native/addon.c, native/init.c): no tool does it, so it is a comment. */
const BERTH_INIT_COMMENT = '# exec berth-init from a sealed memfd, not dumpable: the process never shows the host\'s node as /proc/PID/exe (CVE-2019-5736)';

const SAFE_WORD = /^[A-Za-z0-9_./:=,@%+-]+$/;

/** One shell word: bare when it holds nothing the shell would interpret, else single-quoted. */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A cgroup file write; the value stays in double quotes so `"+cpu +memory"` reads as in the kernel docs. */
export function renderCgroupWrite(path: string, value: string): string {
  return `echo "${value.replace(/["$`\\]/g, '\\$&')}" > ${shellQuote(path)}`;
}

export function renderMkdir(path: string): string {
  return `mkdir -p ${shellQuote(path)}`;
}

/**
 * The steps setpriv(1) does: one setpriv changes all of them and then runs a program (it does them
 * in the kernel's required order itself, keeping capabilities across the uid change), so they are
 * gathered into the one `exec setpriv ... env -i PROGRAM` line, which a shell can run as printed.
 */
const SETPRIV_OPS: ReadonlySet<Step['op']> = new Set(['bounding', 'setgroups', 'setgid', 'setuid', 'capset', 'ambient', 'noNewPrivs']);

/**
 * The plan as shell lines, in order: first the clone, then one line per step (setns runs share one;
 * setpriv's steps are options of the exec line). Typed into a root shell, the lines make the same
 * container (test/runtime-explain-replay.test.ts replays them).
 */
export function renderPlan(plan: Plan, ctx: { rootfs: string }): string[] {
  const lines = [renderClone(plan.cloneFlags), BERTH_INIT_COMMENT];
  let view: View = { rootfs: ctx.rootfs, insideRoot: false };
  const setpriv: SetprivLine = { options: [], notes: [] };
  let callersMounts = !hasMountNamespace(plan);
  for (const item of groupJoins(plan.steps)) {
    if (Array.isArray(item)) {
      lines.push(renderSetns(item));
      continue;
    }
    if (SETPRIV_OPS.has(item.op)) {
      addSetprivOptions(item, setpriv);
      continue;
    }
    if (callersMounts && item.op === 'mount') {
      lines.push("# no mount namespace: the mounts below are made in the caller's own mount namespace (the host's), where everyone sees them, and stay there after the container is gone");
      callersMounts = false;
    }
    lines.push(item.op === 'exec' ? renderExec(item, setpriv) : renderStep(item, view));
    if (ROOT_CHANGING_OPS.has(item.op)) view = { ...view, insideRoot: true };
  }
  // A plan cut short of its exec (a partial render): the privileges as setpriv's own line.
  if (setpriv.options.length) lines.push(`setpriv ${setpriv.options.join(' ')}${notes(setpriv.notes)}`);
  return lines;
}

/** What one setpriv line gathers; `capset` is the capability step it says so far, with where its option and note are. */
interface SetprivLine {
  options: string[];
  notes: string[];
  capset?: { step: StepOf<'capset'>; option: number; note: number };
}

function addSetprivOptions(step: SingleStep, into: SetprivLine): void {
  switch (step.op) {
    case 'bounding':
      into.options.push(`--bounding-set ${capabilityList(step.keep)}`);
      break;
    case 'setgroups':
      into.options.push(step.gids.length ? `--groups ${step.gids.join(',')}` : '--clear-groups');
      break;
    case 'setgid':
      into.options.push(`--regid ${step.gid}`);
      break;
    case 'setuid':
      into.options.push(`--reuid ${step.uid}`);
      break;
    case 'capset': {
      const option = `--inh-caps ${capabilityList(step.inheritable)}`;
      const earlier = into.capset;
      if (!earlier) {
        into.capset = { step, option: into.options.push(option) - 1, note: into.notes.push(capsetNote(step)) - 1 };
      } else {
        // A second capset: the first kept CAP_SYS_ADMIN to load the seccomp filter (placeSeccomp).
        // setpriv sets capabilities once, so the line says the last, and the note what came before.
        into.options[earlier.option] = option;
        const heldBefore = capabilityNames(earlier.step.permitted & ~step.permitted).join(',');
        into.notes[earlier.note] = `${capsetNote(step)}${heldBefore ? ` (${heldBefore} also, until the seccomp filter is loaded)` : ''}`;
        into.capset = { ...earlier, step };
      }
      break;
    }
    case 'ambient':
      into.options.push(`--ambient-caps ${capabilityList(step.caps)}`);
      break;
    case 'noNewPrivs':
      into.options.push('--no-new-privs');
      break;
  }
}

function notes(list: string[]): string {
  return list.length ? `   # ${list.join('; ')}` : '';
}

function renderExec(step: StepOf<'exec'>, setpriv: SetprivLine): string {
  const program = `env -i ${[...step.env, ...step.argv].map(shellQuote).join(' ')}`;
  if (!setpriv.options.length) return `exec ${program}`;
  const line = `exec setpriv ${setpriv.options.join(' ')} ${program}${notes(setpriv.notes)}`;
  setpriv.options = [];
  setpriv.notes = [];
  setpriv.capset = undefined;
  return line;
}

/** Whether the plan's process gets a mount namespace of its own or joins one. */
function hasMountNamespace(plan: Plan): boolean {
  if (plan.cloneFlags & NS_FLAGS.mount) return true;
  return plan.steps.some((step) => (step.op === 'unshare' && step.flags & NS_FLAGS.mount) || (step.op === 'setns' && step.ns === 'mount'));
}

/** Runs of setns steps gathered into one item each: nsenter joins several namespaces in one call. */
function groupJoins(steps: Step[]): (SingleStep | SetnsStep[])[] {
  const items: (SingleStep | SetnsStep[])[] = [];
  for (const step of steps) {
    if (step.op !== 'setns') {
      items.push(step);
      continue;
    }
    const last = items.at(-1);
    if (Array.isArray(last)) last.push(step);
    else items.push([step]);
  }
  return items;
}

function renderClone(cloneFlags: number): string {
  const kinds = (Object.keys(NS_OPTION) as NamespaceKind[]).filter((kind) => cloneFlags & NS_FLAGS[kind]);
  if (kinds.length === 0) return '# no new namespaces';
  const options = kinds.map((kind) => `--${NS_OPTION[kind]}`);
  // unshare makes every mount private by default; clone(2) does not, the plan's own mount step decides.
  if (kinds.includes('mount')) options.push('--propagation unchanged');
  // A new PID namespace holds only children of the caller, so the shell must fork into it.
  if (kinds.includes('pid')) options.push('--fork');
  return `unshare ${options.join(' ')}`;
}

function renderSetns(joins: SetnsStep[]): string {
  return `nsenter ${joins.map((join) => `--${NS_OPTION[join.ns]}=${shellQuote(join.path)}`).join(' ')}`;
}

type StepRenderer<Op extends Step['op']> = (step: StepOf<Op>, view: View) => string;

function renderStep(step: SingleStep, view: View): string {
  const render = STEP_RENDERERS[step.op] as StepRenderer<SingleStep['op']>;
  return render(step, view);
}

const STEP_RENDERERS: { [Op in SingleStep['op']]: StepRenderer<Op> } = {
  unshare: (step) => renderClone(step.flags),
  loopbackUp: () => 'ip link set lo up',
  forkIntoPidns: () => '# fork: a process joins a PID namespace only through its children',
  sync: (step) => SYNC_COMMENTS[step.tag],
  openRoot: (step) => `# root: ${step.path}`,
  mount: renderMount,
  mask: (step, view) => {
    const path = hostPath(step.path, view);
    return `if [ -d ${path} ]; then mount -t tmpfs -o ro tmpfs ${path}; elif [ -e ${path} ]; then mount --bind /dev/null ${path}; fi   # /dev/null checked to be the null device 1:3`;
  },
  mknod: renderMknod,
  symlink: (step, view) => `ln -s ${shellQuote(step.target)} ${hostPath(step.path, view)}`,
  pivotRoot: (_, view) => `cd ${shellQuote(view.rootfs)} && pivot_root . . && umount -l . && cd /`,
  // chroot(1) changes directory to the new `/` itself.
  moveRoot: (_, view) => `cd ${shellQuote(view.rootfs)} && mount --move . / && chroot .`,
  chroot: (_, view) => `cd ${shellQuote(view.rootfs)} && chroot .`,
  writeProc: renderWriteProc,
  sethostname: (step) => `hostname ${shellQuote(step.name)}`,
  setdomainname: (step) => `domainname ${shellQuote(step.name)}`,
  rlimit: renderRlimit,
  setsid: () => '# setsid: a new session',
  console: (step) =>
    `# pty: open /dev/ptmx, send the master to the console socket (fd ${step.socketFd}), ` +
    'make the slave stdin/stdout/stderr and the controlling terminal' +
    (step.bindDevConsole ? ', and bind it onto /dev/console (made in /dev, never through a symlink)' : ''),
  execFifo: (step) =>
    `# wait for start: open the exec FIFO (fd ${step.fd}) for writing; blocks until \`berth-runtime start\``,
  // setpriv's steps, and exec, are rendered by renderPlan as one line (see SETPRIV_OPS).
  bounding: () => '',
  keepCaps: () => '# keep capabilities across setuid (prctl PR_SET_KEEPCAPS): setpriv below does it as well',
  setgroups: () => '',
  setgid: () => '',
  setuid: () => '',
  capset: () => '',
  ambient: () => '',
  noNewPrivs: () => '',
  seccomp: renderSeccomp,
  umask: (step) => `umask ${octal(step.mask)}`,
  chdir: (step) => `cd ${shellQuote(step.path)}`,
  exec: () => '',
};

/** A path as the shell sees it now: in-root paths sit under the rootfs until the root changes. */
function viewPath(ref: PathRef, view: View): string {
  if (!('inRoot' in ref)) return ref.path;
  const absolute = posix.resolve('/', ref.inRoot);
  if (view.insideRoot) return absolute;
  const underRootfs = posix.join(view.rootfs, absolute);
  return underRootfs.length > 1 ? underRootfs.replace(/\/$/, '') : underRootfs;
}

function hostPath(ref: PathRef, view: View): string {
  return shellQuote(viewPath(ref, view));
}

function renderMount(step: StepOf<'mount'>, view: View): string {
  const target = hostPath(step.target, view);
  const source = step.source === null ? 'none' : hostPath(step.source, view);
  const create =
    step.create === 'dir'
      ? `mkdir -p ${target} && `
      : step.create === 'file'
        ? `mkdir -p ${shellQuote(posix.dirname(viewPath(step.target, view)))} && touch ${target} && `
        : '';
  return `${create}${mountCommand(step, source, target)}${step.optional ? '   # skipped when missing' : ''}`;
}

/** mount(8) spelling of one mount(2) call: the flags say which operation it is. */
function mountCommand(step: StepOf<'mount'>, source: string, target: string): string {
  const { flags } = step;
  const propagation = PROPAGATION_OPTIONS.find(([flag]) => flags & flag);
  if (propagation && step.source === null && step.fstype === null) {
    return `mount --make-${flags & MS.REC ? 'r' : ''}${propagation[1]} ${target}`;
  }
  if (flags & MS.MOVE) return `mount --move ${source} ${target}`;
  if (flags & MS.REMOUNT) {
    const options = ['remount', ...(flags & MS.BIND ? ['bind'] : []), ...flagOptions(flags, step.data)];
    return `mount -o ${shellQuote(options.join(','))} ${target}`;
  }
  // mount(8) makes a bind's options (ro, nosuid...) part of the bind, as berth's executor does.
  if (flags & MS.BIND) {
    const options = flagOptions(flags, null);
    return `mount --${flags & MS.REC ? 'rbind' : 'bind'} ${options.length ? `-o ${shellQuote(options.join(','))} ` : ''}${source} ${target}`;
  }
  const options = flagOptions(flags, step.data);
  const type = step.fstype === null ? '' : `-t ${shellQuote(step.fstype)} `;
  const optionWords = options.length ? `-o ${shellQuote(options.join(','))} ` : '';
  return `mount ${type}${optionWords}${source} ${target}`;
}

function flagOptions(flags: number, data: string | null): string[] {
  const options = MOUNT_FLAG_OPTIONS.filter(([flag]) => flags & flag).map(([, option]) => option);
  return data ? [...options, data] : options;
}

function renderMknod(step: StepOf<'mknod'>, view: View): string {
  const path = hostPath(step.path, view);
  const type = MKNOD_TYPES[step.mode & S_IFMT] ?? 'c';
  const numbers = type === 'p' ? '' : ` ${step.major} ${step.minor}`;
  const chown = step.uid || step.gid ? ` && chown ${step.uid}:${step.gid} ${path}` : '';
  return `mknod -m ${octal(step.mode & 0o7777)} ${path} ${type}${numbers}${chown}`;
}

/**
 * A file under /proc/sys is a sysctl: named the way sysctl(8) does. The child writes it through a
 * procfs of its own (a new instance mounted nowhere), not through the container's /proc: the note
 * says so, since the line alone would go through whatever /proc is.
 */
function renderWriteProc(step: StepOf<'writeProc'>): string {
  const note = "   # through the runtime's own procfs, not the container's /proc";
  if (step.path.startsWith('sys/')) {
    const key = step.path.slice('sys/'.length);
    // sysctl(8) also takes slashes, which keeps a name with a dot in it (eth0.100) unambiguous.
    const name = key.split('/').some((part) => part.includes('.')) ? key : key.replaceAll('/', '.');
    return `sysctl -w ${shellQuote(`${name}=${step.content}`)}${note}`;
  }
  return `echo ${shellQuote(step.content)} > ${shellQuote(`/proc/${step.path}`)}${note}`;
}

function renderRlimit(step: StepOf<'rlimit'>): string {
  const name = RLIMIT_NAMES[step.resource];
  if (name === undefined) throw new Error(`explain: unknown rlimit resource ${step.resource}`);
  // `$$` is the shell itself: the commands typed after it inherit the limit.
  return `prlimit --pid $$ --${name}=${rlimitText(step.soft)}:${rlimitText(step.hard)}`;
}


/** setpriv sets only the inheritable set (execve derives permitted and effective): those two follow as a note. */
function capsetNote(step: StepOf<'capset'>): string {
  const permitted = capabilityNames(step.permitted).join(',') || 'none';
  const effective = capabilityNames(step.effective).join(',') || 'none';
  return permitted === effective ? `permitted and effective: ${permitted}` : `permitted: ${permitted}; effective: ${effective}`;
}

/** A capability mask as setpriv's list: drop all, then add each one the mask holds. */
function capabilityList(mask: bigint): string {
  return ['-all', ...capabilityNames(mask).map((name) => `+${name}`)].join(',');
}

/** Bit i of a mask is capability i. */
function capabilityNames(mask: bigint): string[] {
  const names: string[] = [];
  for (let cap = 0; mask >> BigInt(cap) !== 0n; cap++) {
    if ((mask >> BigInt(cap)) & 1n) names.push(capabilityName(cap));
  }
  return names;
}

function capabilityName(cap: number): string {
  const name = CAPABILITIES[cap];
  // setpriv (libcap-ng) spells a capability newer than the table `cap_N`.
  return name === undefined ? `cap_${cap}` : name.replace(/^CAP_/, '').toLowerCase();
}

/** No tool loads a BPF filter by itself: a comment, with the profile in words. */
function renderSeccomp(step: StepOf<'seccomp'>): string {
  const flags = Object.entries(SECCOMP_FILTER_FLAG).filter(([, bit]) => step.flags & bit).map(([name]) => name);
  const how = [`${step.program.length / 8} BPF instructions`, ...(flags.length ? [`flags ${flags.join('|')}`] : [])].join(', ');
  return `# seccomp: ${step.summary} (seccomp(SECCOMP_SET_MODE_FILTER): ${how})`;
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}
