// .dockerignore with docker's rules (moby/patternmatcher): one pattern a line, `#` comments,
// paths relative to the context root (a leading `/` means the same), `*` and `?` within one
// name, `[...]` classes, `**` across any number of directories, a pattern that names a directory
// takes everything below it, and `!` makes an exception; the last pattern that matches wins.
import { posix } from 'node:path';

interface Pattern {
  exclusion: boolean;
  regexp: RegExp;
  /** The pattern as cleaned: for telling whether an exception reaches below a directory. */
  text: string;
}

function toRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i += 1;
        if (pattern[i + 1] === '/') {
          i += 1;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!') || cls.startsWith('^')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < pattern.length) {
      i += 1;
      re += pattern[i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class IgnoreRules {
  private readonly patterns: Pattern[];

  constructor(text: string) {
    this.patterns = [];
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const exclusion = line.startsWith('!');
      if (exclusion) line = line.slice(1).trim();
      line = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
      if (line === '' || line === '.') continue;
      this.patterns.push({ exclusion, regexp: toRegExp(line), text: line });
    }
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether the context path `rel` (no leading `/`) is left out: it or a parent matches, last rule wins. */
  ignores(rel: string): boolean {
    const parts = rel.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const p of this.patterns) {
      if (prefixes.some((prefix) => p.regexp.test(prefix))) ignored = !p.exclusion;
    }
    return ignored;
  }

  /** Whether an exception may bring back something below the directory `rel` (then it is walked). */
  mayKeepBelow(rel: string): boolean {
    return this.patterns.some((p) => p.exclusion && (p.text.startsWith(`${rel}/`) || /[*?[]/.test(p.text)));
  }
}

/** docker's glob of one source: `*`, `?` and `[...]` within names (no `**`). */
export function globRegExp(pattern: string): RegExp {
  return toRegExp(pattern.replace(/\*\*/g, '*'));
}

export function hasGlob(path: string): boolean {
  return /[*?[]/.test(path);
}
