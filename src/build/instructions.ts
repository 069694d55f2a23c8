// The instructions that change only the image's config (ENV, LABEL, CMD, ENTRYPOINT, EXPOSE,
// VOLUME, USER, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER, ARG, WORKDIR's path): each a
// pure function of the stage's state and the instruction, giving the new config and the history
// line docker's classic builder writes for it (`/bin/sh -c #(nop)  ENV A=b`).
import type { ContainerConfig } from '../oci/image-spec.js';
import { parseDuration } from '../units.js';
import { expandWord, type Vars } from './expand.js';
import { DockerfileError, nameValuePairs, splitWords, type Instruction } from './parser.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** What a stage is while it is built. */
export interface Stage {
  index: number;
  name?: string;
  /** The image of the last step. */
  imageId: string;
  config: ContainerConfig;
  /** ARGs declared in this stage, with their values (undefined: declared, no value given). */
  args: Map<string, string | undefined>;
  author?: string;
  /** Whether CMD was set in this stage (then ENTRYPOINT keeps it). */
  cmdSet?: boolean;
}

/** The variables expansion sees: the stage's ARGs, then its ENV (ENV wins, as in docker). */
export function stageVars(stage: Stage): Map<string, string> {
  const vars = new Map<string, string>();
  for (const [k, v] of stage.args) if (v !== undefined) vars.set(k, v);
  for (const e of stage.config.Env ?? []) {
    const eq = e.indexOf('=');
    vars.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
  }
  return vars;
}

export function failAt(ins: Instruction, message: string): DockerfileError {
  return new DockerfileError(`Dockerfile line ${ins.line}: ${ins.keyword}: ${message}`);
}

/** Shell form through the stage's SHELL; JSON form as written. */
export function commandOf(ins: Instruction, config: ContainerConfig): string[] {
  if (ins.json !== undefined) return ins.json;
  const shell = (config.Shell as string[] | undefined) ?? DEFAULT_SHELL;
  return [...shell, ins.args];
}

/** Go's %q of a string slice, as the classic builder's history shows a command: ["/bin/sh" "-c" "x"]. */
function goSlice(args: string[]): string {
  return `[${args.map((a) => JSON.stringify(a)).join(' ')}]`;
}

function nop(config: ContainerConfig, text: string): string {
  const shell = (config.Shell as string[] | undefined) ?? DEFAULT_SHELL;
  return `${shell.join(' ')} #(nop) ${text}`;
}

/** An absolute path for WORKDIR, COPY's destination...: relative ones are under the current WORKDIR. */
export function underWorkdir(config: ContainerConfig, path: string): string {
  if (path.startsWith('/')) return path;
  const base = config.WorkingDir || '/';
  return `${base.replace(/\/+$/, '')}/${path}`;
}

function expandAll(words: string[], vars: Vars, escape: string): string[] {
  return words.map((w) => expandWord(w, vars, escape));
}

function healthcheck(ins: Instruction): Record<string, unknown> {
  const words = splitWords(ins.args, '\\');
  const kind = (words[0] ?? '').toUpperCase();
  if (kind === 'NONE') {
    if (words.length > 1 || Object.keys(ins.flags).length) throw failAt(ins, 'HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw failAt(ins, `unknown type ${JSON.stringify(words[0] ?? '')}: use CMD or NONE`);
  const rest = ins.args.slice(ins.args.search(/cmd/i) + 3).trim();
  const json = rest.startsWith('[') ? (() => { try { const j: unknown = JSON.parse(rest); return Array.isArray(j) && j.every((s) => typeof s === 'string') ? (j as string[]) : undefined; } catch { return undefined; } })() : undefined;
  const out: Record<string, unknown> = { Test: json !== undefined ? ['CMD', ...json] : ['CMD-SHELL', rest] };
  const durations: Record<string, string> = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval' };
  for (const [flag, value] of Object.entries(ins.flags)) {
    if (flag in durations) {
      const ms = typeof value === 'string' ? parseDuration(value) : null;
      if (ms === null) throw failAt(ins, `--${flag}=${String(value)}: not a duration (like 30s, 1m30s)`);
      out[durations[flag]!] = Math.round(ms * 1e6);
    } else if (flag === 'retries') {
      if (typeof value !== 'string' || !/^\d+$/.test(value)) throw failAt(ins, `--retries=${String(value)}: not a whole number`);
      out.Retries = Number(value);
    } else throw failAt(ins, `unknown flag: --${flag}`);
  }
  return out;
}

/**
 * A config-only instruction's effect: the new config (and author), and the created_by of its
 * history entry. `vars` are the stage's variables; ARG is handled by the builder.
 */
export function applyConfigInstruction(ins: Instruction, stage: Stage, escape: string): { config: ContainerConfig; author?: string; createdBy: string; cmdSet?: boolean } {
  const vars = stageVars(stage);
  const config: ContainerConfig = structuredClone(stage.config);
  const created = (text: string) => nop(stage.config, ` ${text}`);
  switch (ins.keyword) {
    case 'ENV': {
      const pairs = nameValuePairs(ins, escape, true).map(([k, v]): [string, string] => [expandWord(k, vars, escape), expandWord(v ?? '', vars, escape)]);
      const env = [...(config.Env ?? [])];
      for (const [k, v] of pairs) {
        const at = env.findIndex((e) => e === k || e.startsWith(`${k}=`));
        if (at >= 0) env[at] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
        vars.set(k, v); // a later pair of the same ENV sees an earlier one
      }
      config.Env = env;
      return { config, createdBy: created(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`) };
    }
    case 'LABEL': {
      const pairs = nameValuePairs(ins, escape, true).map(([k, v]): [string, string] => [expandWord(k, vars, escape), expandWord(v ?? '', vars, escape)]);
      config.Labels = { ...(config.Labels ?? {}) };
      for (const [k, v] of pairs) config.Labels[k] = v;
      return { config, createdBy: created(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`) };
    }
    case 'CMD':
    case 'ENTRYPOINT': {
      const command = ins.args === '' && ins.json === undefined ? [] : commandOf(ins, stage.config);
      if (ins.keyword === 'CMD') config.Cmd = command;
      else {
        config.Entrypoint = command;
        // docker: ENTRYPOINT resets a CMD the base image had (not one this stage set)
        if (!stage.cmdSet) config.Cmd = null;
      }
      return { config, createdBy: created(`${ins.keyword} ${goSlice(command)}`), ...(ins.keyword === 'CMD' ? { cmdSet: true } : {}) };
    }
    case 'EXPOSE': {
      const ports = expandAll(splitWords(ins.args, escape), vars, escape);
      config.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
      for (const p of ports) {
        const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (m === null) throw failAt(ins, `invalid containerPort: ${p}`);
        const proto = (m[3] ?? 'tcp').toLowerCase();
        for (let port = Number(m[1]); port <= Number(m[2] ?? m[1]); port += 1) config.ExposedPorts[`${port}/${proto}`] = {};
      }
      return { config, createdBy: created(`EXPOSE ${Object.keys(config.ExposedPorts).filter((k) => !(stage.config.ExposedPorts ?? {})[k]).join(' ') || ports.join(' ')}`) };
    }
    case 'VOLUME': {
      const paths = expandAll(ins.json ?? splitWords(ins.args, escape), vars, escape);
      config.Volumes = { ...(config.Volumes ?? {}) };
      for (const p of paths) {
        if (p.trim() === '') throw failAt(ins, 'VOLUME specified can not be an empty string');
        config.Volumes[p] = {};
      }
      return { config, createdBy: created(`VOLUME ${goSlice(paths)}`) };
    }
    case 'USER': {
      const user = expandWord(ins.args, vars, escape);
      config.User = user;
      return { config, createdBy: created(`USER ${user}`) };
    }
    case 'STOPSIGNAL': {
      const signal = expandWord(ins.args, vars, escape);
      if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/i.test(signal)) throw failAt(ins, `invalid signal: ${signal}`);
      config.StopSignal = signal;
      return { config, createdBy: created(`STOPSIGNAL ${signal}`) };
    }
    case 'SHELL': {
      if (ins.json === undefined || ins.json.length === 0) throw failAt(ins, 'SHELL requires the arguments to be in JSON form');
      config.Shell = ins.json;
      return { config, createdBy: created(`SHELL ${goSlice(ins.json)}`) };
    }
    case 'HEALTHCHECK': {
      config.Healthcheck = healthcheck(ins);
      return { config, createdBy: created(`HEALTHCHECK ${ins.original.slice('HEALTHCHECK'.length).trim()}`) };
    }
    case 'ONBUILD': {
      const trigger = ins.args.trim();
      const word = trigger.split(/\s+/)[0]!.toUpperCase();
      if (word === 'ONBUILD') throw failAt(ins, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (word === 'FROM' || word === 'MAINTAINER') throw failAt(ins, `${word} isn't allowed as an ONBUILD trigger`);
      config.OnBuild = [...((config.OnBuild as string[] | null | undefined) ?? []), trigger];
      return { config, createdBy: created(`ONBUILD ${trigger}`) };
    }
    case 'MAINTAINER': {
      const author = ins.args;
      return { config, author, createdBy: created(`MAINTAINER ${author}`) };
    }
    case 'WORKDIR': {
      const path = expandWord(ins.args, vars, escape);
      config.WorkingDir = normalizePath(underWorkdir(stage.config, path));
      return { config, createdBy: created(`WORKDIR ${config.WorkingDir}`) };
    }
    default:
      throw failAt(ins, 'not a config instruction');
  }
}

/** `/a/./b/../c/` → `/a/c`. */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}
