// A Dockerfile as docker's parser reads it: parser directives at the top (`# syntax=`, `# escape=`),
// comment lines dropped (inside continuations too), lines joined where one ends with the escape
// character, and each instruction as its keyword, its leading `--flags`, and its arguments in
// shell form (text) or JSON form (an array of strings). Nothing is expanded here.
import { BerthError, type ErrorKind } from '../errors.js';

export class DockerfileError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'DockerfileError';
}

export const INSTRUCTIONS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER',
  'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;
export type Keyword = (typeof INSTRUCTIONS)[number];

/** The instructions whose leading `--name[=value]` words are flags. */
const WITH_FLAGS = new Set<Keyword>(['ADD', 'COPY', 'FROM', 'RUN', 'HEALTHCHECK']);

export interface Instruction {
  /** 1-based line of the instruction's first line. */
  line: number;
  keyword: Keyword;
  /** The instruction as written (continuations joined): for messages and history. */
  original: string;
  flags: Record<string, string | true>;
  /** The arguments after the flags, continuations joined, trimmed. */
  args: string;
  /** The JSON form's strings, when the arguments are a JSON array of strings. */
  json?: string[];
}

export interface Dockerfile {
  escape: string;
  directives: Record<string, string>;
  instructions: Instruction[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

/** Reads the parser directives (docker's rule: only before any comment, blank line or instruction). */
function readDirectives(lines: string[]): { directives: Record<string, string>; escape: string } {
  const directives: Record<string, string> = {};
  for (const [i, line] of lines.entries()) {
    const m = DIRECTIVE.exec(line);
    if (m === null) break;
    const name = m[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(name)) break; // an unknown directive is a comment, and ends the directives
    if (name in directives) throw new DockerfileError(`dockerfile parse error line ${i + 1}: only one ${name} parser directive can be used`);
    directives[name] = m[2]!;
  }
  const escape = directives.escape ?? '\\';
  if (escape !== '\\' && escape !== '`') throw new DockerfileError(`invalid escape token '${escape}' does not validate`);
  return { directives, escape };
}

/** Whether `line` ends with the escape character (trailing blanks allowed), and the line without it. */
function continued(line: string, escape: string): { more: boolean; text: string } {
  const trimmed = line.replace(/[ \t]+$/, '');
  if (trimmed.endsWith(escape)) {
    // An escaped escape at the end (`\\`) still continues only if odd in count: docker's regexp takes one.
    return { more: true, text: trimmed.slice(0, -1) };
  }
  return { more: false, text: line };
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const { directives, escape } = readDirectives(lines);
  const instructions: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    const startLine = i + 1;
    i += 1;
    if (/^\s*$/.test(first) || /^\s*#/.test(first)) continue;
    let { more, text: joined } = continued(first, escape);
    while (more && i < lines.length) {
      const next = lines[i]!;
      i += 1;
      if (/^\s*#/.test(next)) continue; // comments inside a continuation are dropped
      if (/^\s*$/.test(next)) continue; // empty continuation lines: docker accepts them (with a warning)
      const c = continued(next, escape);
      joined += c.text;
      more = c.more;
    }
    instructions.push(parseInstruction(joined.trim(), startLine, escape));
  }
  return { escape, directives, instructions };
}

function parseInstruction(text: string, line: number, escape: string): Instruction {
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text)!;
  const word = m[1]!;
  const keyword = word.toUpperCase() as Keyword;
  if (!INSTRUCTIONS.includes(keyword)) throw new DockerfileError(`dockerfile parse error line ${line}: unknown instruction: ${word}`);
  let rest = (m[2] ?? '').trim();
  const flags: Record<string, string | true> = {};
  if (WITH_FLAGS.has(keyword)) {
    for (;;) {
      const f = /^--([A-Za-z][A-Za-z0-9-]*)(?:=((?:"[^"]*"|'[^']*'|\S)*))?(?:\s+|$)/.exec(rest);
      if (f === null) break;
      flags[f[1]!.toLowerCase()] = f[2] === undefined ? true : unquote(f[2]);
      rest = rest.slice(f[0].length);
    }
  }
  const instruction: Instruction = { line, keyword, original: text, flags, args: rest };
  const json = parseJSONForm(rest);
  if (json !== undefined) instruction.json = json;
  if (rest === '' && !['CMD', 'ENTRYPOINT', 'RUN'].includes(keyword)) {
    throw new DockerfileError(`dockerfile parse error line ${line}: ${keyword} requires at least one argument`);
  }
  void escape;
  return instruction;
}

function unquote(value: string): string {
  return /^"[\s\S]*"$|^'[\s\S]*'$/.test(value) ? value.slice(1, -1) : value;
}

/** docker's JSON form: a JSON array of strings; anything else is the shell form. */
export function parseJSONForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed) && parsed.every((s) => typeof s === 'string')) return parsed as string[];
  } catch {
    // Not JSON: docker then takes the text as the shell form.
  }
  return undefined;
}

/**
 * Splits arguments into words at unquoted blanks, keeping quotes and escapes for the expansion
 * that follows (docker splits first, then processes each word).
 */
export function splitWords(text: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i]!;
    if (quote === null && /\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    word += ch;
    if (ch === escape && quote !== "'" && i + 1 < text.length) {
      word += text[i + 1];
      i += 1;
    } else if (quote === null && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = null;
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * ENV, LABEL and ARG's `key=value` pairs, or ENV's legacy `key value` form (one pair, the value
 * the rest of the line). Values keep their quotes for expansion.
 */
export function nameValuePairs(ins: Instruction, escape: string, legacyAllowed: boolean): [string, string | undefined][] {
  const words = splitWords(ins.args, escape);
  if (words.length === 0) throw new DockerfileError(`Dockerfile line ${ins.line}: ${ins.keyword} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    if (ins.keyword === 'ARG') {
      if (words.length > 1) throw new DockerfileError(`Dockerfile line ${ins.line}: ARG requires exactly one argument`);
      return [[words[0]!, undefined]];
    }
    if (!legacyAllowed || words.length < 2) throw new DockerfileError(`Dockerfile line ${ins.line}: ${ins.keyword} names ${words[0]} without a value (use NAME=VALUE)`);
    const value = ins.args.slice(ins.args.indexOf(words[0]!) + words[0]!.length).trim();
    return [[words[0]!, value]];
  }
  return words.map((w): [string, string] => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new DockerfileError(`Dockerfile line ${ins.line}: ${ins.keyword}: ${JSON.stringify(w)}: expected NAME=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}
