// A small argv parser with docker's (pflag's) habits: `--flag value`, `--flag=value`, short
// aliases, short flags bundled (`-it`, `-dp 8080:80`: the last may take a value, attached or next),
// repeatable flags, boolean flags that take no value, and `--` to end the flags. berth-runtime
// uses it too, for runc's (urfave/cli's) flags, which parse the same way.
import { BerthError, type ErrorKind } from '../errors.js';

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  /** A boolean flag takes no value (`--detach`); `--detach=false` is still understood. */
  boolean?: boolean;
  repeatable?: boolean;
}

export interface Parsed {
  flags: Record<string, string | boolean | string[]>;
  positionals: string[];
}

export class UsageError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'UsageError';
}

/**
 * Parses flags until the first positional once `stopAtPositional` is set (so that `exec ID sh -c x`
 * leaves `-c` to the command), else everywhere; `--` ends the flags.
 */
export function parseArgs(argv: string[], specs: FlagSpec[], stopAtPositional = false): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    if (s.short) byName.set(s.short, s);
  }
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || (stopAtPositional && positionals.length > 0)) {
      positionals.push(arg);
      continue;
    }
    // Short flags bundled as docker users type them: -it, -aq; the last may take a value, given
    // in the same word (-p8080:80) or as the next one (-dp 8080:80).
    // A single-dash word whose name (before any `=`) is a flag's stays that flag (runc's habit:
    // `-bundle`, and `-e=X`); any other is such a cluster.
    if (/^-[A-Za-z]./.test(arg) && !byName.has(arg.slice(1).split('=')[0])) {
      for (let k = 1; k < arg.length; k++) {
        const c = arg[k];
        const spec = byName.get(c);
        if (!spec || spec.short !== c) throw new UsageError(`unknown shorthand flag '${c}' in ${arg}`);
        if (spec.boolean) {
          flags[spec.name] = true;
          continue;
        }
        const attached = arg.slice(k + 1).replace(/^=/, ''); // -p=80 as pflag takes it
        if (attached === '' && i + 1 >= argv.length) throw new UsageError(`flag -${c} needs a value`);
        const value = attached !== '' ? attached : argv[++i];
        if (spec.repeatable) ((flags[spec.name] ??= []) as string[]).push(value);
        else flags[spec.name] = value;
        break;
      }
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag ${arg.slice(0, arg.length - (eq >= 0 ? body.length - eq : 0))}`);
    let value: string | boolean;
    if (spec.boolean) value = eq >= 0 ? body.slice(eq + 1) !== 'false' : true;
    else if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag --${spec.name} needs a value`);
      value = argv[++i];
    }
    if (spec.repeatable) ((flags[spec.name] ??= []) as string[]).push(String(value));
    else flags[spec.name] = value;
  }
  return { flags, positionals };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: Parsed, name: string): boolean {
  return p.flags[name] === true;
}

export function list(p: Parsed, name: string): string[] {
  const v = p.flags[name];
  return Array.isArray(v) ? v : [];
}

/** `--filter KEY=VALUE` flags (KEY may be `label!`) as key and value pairs, for the engine's filter parsers. */
export function filterPairs(p: Parsed): [string, string][] {
  return list(p, 'filter').map((f): [string, string] => {
    const m = /^(label!|[a-z]+)=(.*)$/.exec(f);
    if (!m) throw new UsageError(`--filter ${f}: KEY=VALUE (until, label, label!)`);
    return [m[1], m[2]];
  });
}
