// docker's word processing for the instructions that expand variables (ADD, COPY, ENV, EXPOSE,
// FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG): quotes removed, the escape character
// taken, and `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
// `${VAR:?message}` replaced from the build's variables. Single quotes keep `$` literal.
import { DockerfileError } from './parser.js';

export type Vars = ReadonlyMap<string, string>;

export function expandWord(word: string, vars: Vars, escape: string): string {
  return new WordLexer(word, vars, escape).word();
}

class WordLexer {
  private i = 0;

  constructor(
    private readonly text: string,
    private readonly vars: Vars,
    private readonly escape: string,
  ) {}

  private get done(): boolean {
    return this.i >= this.text.length;
  }

  /** The whole text, processed; `stop` ends a nested word (the `}` of `${VAR:-word}`). */
  word(stop?: string): string {
    let out = '';
    while (!this.done) {
      const ch = this.text[this.i]!;
      if (stop !== undefined && ch === stop) break;
      this.i += 1;
      if (ch === this.escape) {
        if (!this.done) out += this.text[this.i++];
      } else if (ch === "'") {
        const end = this.text.indexOf("'", this.i);
        if (end < 0) throw new DockerfileError(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(this.text)}`);
        out += this.text.slice(this.i, end);
        this.i = end + 1;
      } else if (ch === '"') {
        out += this.doubleQuoted();
      } else if (ch === '$') {
        out += this.variable();
      } else {
        out += ch;
      }
    }
    return out;
  }

  private doubleQuoted(): string {
    let out = '';
    for (;;) {
      if (this.done) throw new DockerfileError(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(this.text)}`);
      const ch = this.text[this.i++]!;
      if (ch === '"') return out;
      if (ch === this.escape && !this.done) {
        const next = this.text[this.i]!;
        if (next === '"' || next === '$' || next === this.escape) {
          out += next;
          this.i += 1;
        } else out += ch;
      } else if (ch === '$') out += this.variable();
      else out += ch;
    }
  }

  private variable(): string {
    if (this.done) return '$';
    if (this.text[this.i] === '{') {
      this.i += 1;
      const name = this.name();
      if (name === '') throw new DockerfileError(`bad substitution in ${JSON.stringify(this.text)}`);
      if (this.text[this.i] === '}') {
        this.i += 1;
        return this.vars.get(name) ?? '';
      }
      const op = /^(:-|:\+|:\?|-|\+|\?)/.exec(this.text.slice(this.i));
      if (op === null) throw new DockerfileError(`unsupported modifier in ${JSON.stringify(this.text)}: use \${VAR}, \${VAR:-word} or \${VAR:+word}`);
      this.i += op[1]!.length;
      const word = this.word('}');
      if (this.text[this.i] !== '}') throw new DockerfileError(`missing '}' in ${JSON.stringify(this.text)}`);
      this.i += 1;
      const value = this.vars.get(name);
      const set = value !== undefined;
      const nonEmpty = set && value !== '';
      switch (op[1]) {
        case ':-': return nonEmpty ? value : word;
        case '-': return set ? value : word;
        case ':+': return nonEmpty ? word : '';
        case '+': return set ? word : '';
        default:
          if (op[1] === ':?' ? !nonEmpty : !set) throw new DockerfileError(`${name}: ${word || 'is not allowed to be unset'}`);
          return value!;
      }
    }
    const name = this.name();
    return name === '' ? '$' : (this.vars.get(name) ?? '');
  }

  private name(): string {
    const m = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9])/.exec(this.text.slice(this.i));
    if (m === null) return '';
    this.i += m[0].length;
    return m[0];
  }
}
