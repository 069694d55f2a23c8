// The part of Go's text/template that `docker ... --format` users write: fields (`{{.A.B}}`,
// `{{$.X}}`, `{{(index .Ports "80/tcp")}}`), pipelines (`{{.X | json}}`), variables
// (`{{$v := .X}}`), `if`/`else if`/`else`, `range` (with `$k, $v :=`, over lists and maps in
// key order), `with`, comments and `{{-`/`-}}` trimming; Go's functions (`index`, `len`, `printf`,
// `print`, `println`, `eq`/`ne`/`lt`/`le`/`gt`/`ge`, `and`/`or`/`not`, `slice`) and docker's
// (`json`, `join`, `split`, `upper`, `lower`, `title`, `pad`, `truncate`), with `\t` and `\n` as
// docker's CLI reads them. Anything else is refused by name rather than printed wrong.
import { UsageError } from './args.js';
import { table } from './format.js';

type Token = { kind: 'field' | 'var' | 'string' | 'number' | 'ident' | '(' | ')' | '|' | ':=' | '=' | ','; text: string; adjacent: boolean };
type Operand =
  | { kind: 'field'; base: Operand | 'dot'; path: string[] }
  | { kind: 'var'; name: string; path: string[] }
  | { kind: 'literal'; value: unknown }
  | { kind: 'pipe'; pipe: Pipeline; path: string[] }
  | { kind: 'func'; name: string };
interface Pipeline {
  decl: string[];
  assign: boolean;
  commands: Operand[][];
}
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'range'; pipe: Pipeline; then: Node[]; else: Node[] };

function fail(message: string): never {
  throw new UsageError(`--format: ${message}`);
}

const FUNCTIONS = new Set(['json', 'index', 'len', 'upper', 'lower', 'title', 'join', 'split', 'printf', 'print', 'println', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not', 'slice', 'pad', 'truncate']);

function lex(action: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < action.length) {
    const adjacent = i > 0 && !/\s/.test(action[i - 1]);
    const rest = action.slice(i);
    const c = action[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const m =
      /^"(?:[^"\\]|\\.)*"/.exec(rest) ??
      /^`[^`]*`/.exec(rest) ??
      /^:=/.exec(rest) ??
      /^[()|=,]/.exec(rest) ??
      /^\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/.exec(rest) ??
      /^(?:\.[A-Za-z0-9_]+)+|^\./.exec(rest) ??
      /^-?[0-9]+(?:\.[0-9]+)?/.exec(rest) ??
      /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (!m) fail(`unexpected "${c}" in {{${action}}}`);
    const text = m[0];
    const kind: Token['kind'] =
      text[0] === '"' || text[0] === '`' ? 'string' : text[0] === '$' ? 'var' : text[0] === '.' ? 'field' : /^-?[0-9]/.test(text) ? 'number' : /^[A-Za-z_]/.test(text) ? 'ident' : (text as Token['kind']);
    tokens.push({ kind, text, adjacent });
    i += text.length;
  }
  return tokens;
}

function unquote(text: string): string {
  if (text[0] === '`') return text.slice(1, -1);
  return JSON.parse(text.replace(/\\'/g, "'")) as string;
}

/** A pipeline from tokens[at...], up to a `)` or the end; returns it and where it stopped. */
function parsePipeline(tokens: Token[], at: number, action: string): [Pipeline, number] {
  const pipe: Pipeline = { decl: [], assign: false, commands: [] };
  // `$x :=`, `$k, $v :=` or `$x =`
  let j = at;
  const names: string[] = [];
  while (tokens[j]?.kind === 'var' && !tokens[j].text.includes('.')) {
    names.push(tokens[j].text);
    if (tokens[j + 1]?.kind === ',') j += 2;
    else {
      j++;
      break;
    }
  }
  if (names.length && (tokens[j]?.kind === ':=' || tokens[j]?.kind === '=')) {
    pipe.decl = names;
    pipe.assign = tokens[j].kind === '=';
    at = j + 1;
  }
  let command: Operand[] = [];
  while (at < tokens.length && tokens[at].kind !== ')') {
    const t = tokens[at];
    if (t.kind === '|') {
      if (!command.length) fail(`missing command before | in {{${action}}}`);
      pipe.commands.push(command);
      command = [];
      at++;
      continue;
    }
    const [operand, next] = parseOperand(tokens, at, action);
    command.push(operand);
    at = next;
  }
  if (!command.length) fail(`missing value in {{${action}}}`);
  pipe.commands.push(command);
  return [pipe, at];
}

function parseOperand(tokens: Token[], at: number, action: string): [Operand, number] {
  const t = tokens[at];
  const path = (text: string) => text.split('.').filter(Boolean);
  switch (t.kind) {
    case 'field':
      return [{ kind: 'field', base: 'dot', path: path(t.text) }, at + 1];
    case 'var': {
      const [name, ...rest] = t.text.split('.');
      return [{ kind: 'var', name, path: rest }, at + 1];
    }
    case 'string':
      return [{ kind: 'literal', value: unquote(t.text) }, at + 1];
    case 'number':
      return [{ kind: 'literal', value: Number(t.text) }, at + 1];
    case 'ident':
      if (t.text === 'true' || t.text === 'false') return [{ kind: 'literal', value: t.text === 'true' }, at + 1];
      if (t.text === 'nil') return [{ kind: 'literal', value: null }, at + 1];
      if (!FUNCTIONS.has(t.text)) fail(`function "${t.text}" not defined`);
      return [{ kind: 'func', name: t.text }, at + 1];
    case '(': {
      const [pipe, next] = parsePipeline(tokens, at + 1, action);
      if (tokens[next]?.kind !== ')') fail(`unclosed ( in {{${action}}}`);
      const after = tokens[next + 1];
      if (after?.kind === 'field' && after.adjacent) return [{ kind: 'pipe', pipe, path: path(after.text) }, next + 2];
      return [{ kind: 'pipe', pipe, path: [] }, next + 1];
    }
    default:
      return fail(`unexpected "${t.text}" in {{${action}}}`);
  }
}

/** The template's actions and text, with `{{-`/`-}}` trimming done. */
function split(template: string): Array<{ text: string } | { action: string }> {
  const parts: Array<{ text: string } | { action: string }> = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    if (open < 0) {
      parts.push({ text: template.slice(i) });
      break;
    }
    let text = template.slice(i, open);
    let j = open + 2;
    if (template[j] === '-' && /\s/.test(template[j + 1] ?? '')) {
      text = text.trimEnd();
      j++;
    }
    parts.push({ text });
    // The action ends at the first `}}` outside a string.
    let k = j;
    let quote = '';
    while (k < template.length) {
      const c = template[k];
      if (quote) {
        if (c === '\\' && quote === '"') k++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === '`') quote = c;
      else if (template.startsWith('}}', k)) break;
      k++;
    }
    if (k >= template.length) fail(`unclosed action in ${template}`);
    let action = template.slice(j, k);
    i = k + 2;
    if (/\s-$/.test(action)) {
      action = action.slice(0, -1);
      const m = /^\s*/.exec(template.slice(i));
      i += m ? m[0].length : 0;
    }
    parts.push({ action: action.trim() });
  }
  return parts;
}

function parse(template: string): Node[] {
  const root: Node[] = [];
  // Each open block: where its nodes go, and the node (for its else list).
  const stack: Array<{ node: Extract<Node, { else: Node[] }> | null; into: Node[] }> = [{ node: null, into: root }];
  const top = () => stack[stack.length - 1];
  for (const part of split(template)) {
    if ('text' in part) {
      if (part.text) top().into.push({ kind: 'text', text: part.text });
      continue;
    }
    const action = part.action;
    if (action.startsWith('/*')) continue;
    const tokens = lex(action);
    const word = tokens[0]?.kind === 'ident' ? tokens[0].text : '';
    if (word === 'if' || word === 'range' || word === 'with') {
      const [pipe, end] = parsePipeline(tokens, 1, action);
      if (end < tokens.length) fail(`unexpected ")" in {{${action}}}`);
      const node = { kind: word, pipe, then: [], else: [] } as Extract<Node, { else: Node[] }>;
      top().into.push(node);
      stack.push({ node, into: node.then });
    } else if (word === 'else') {
      const block = top();
      if (!block.node) fail('{{else}} outside if, range or with');
      block.into = block.node.else;
      if (tokens[1]?.text === 'if' || tokens[1]?.text === 'with') {
        // `else if X` is `else` holding `if X ... end`, closed by the same `end`.
        const [pipe, end] = parsePipeline(tokens, 2, action);
        if (end < tokens.length) fail(`unexpected ")" in {{${action}}}`);
        const node = { kind: tokens[1].text, pipe, then: [], else: [] } as Extract<Node, { else: Node[] }>;
        block.into.push(node);
        stack[stack.length - 1] = { node, into: node.then };
      }
    } else if (word === 'end') {
      if (stack.length === 1) fail('{{end}} without if, range or with');
      stack.pop();
    } else if (word === 'define' || word === 'template' || word === 'block' || word === 'break' || word === 'continue') {
      fail(`{{${action}}} is not supported`);
    } else {
      const [pipe, end] = parsePipeline(tokens, 0, action);
      if (end < tokens.length) fail(`unexpected ")" in {{${action}}}`);
      top().into.push({ kind: 'action', pipe });
    }
  }
  if (stack.length > 1) fail(`missing {{end}} in ${template}`);
  return root;
}

/** Go's default printing of a value: maps as map[k:v], lists as [a b], nothing as <no value>. */
function show(value: unknown): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(show).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, v]) => `${k}:${show(v)}`).join(' ')}]`;
  }
  return String(value);
}

function truth(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return true;
}

function walk(value: unknown, path: string[]): unknown {
  for (const key of path) {
    if (value === null || value === undefined || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function printf(format: string, args: unknown[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([sdvqfxT%])/g, (_, flags: string, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[n++];
    let text: string;
    if (verb === 'q') text = JSON.stringify(show(arg));
    else if (verb === 'd') text = String(Math.trunc(Number(arg)));
    else if (verb === 'f') text = Number(arg).toFixed(precision === undefined ? 6 : Number(precision));
    else if (verb === 'x') text = typeof arg === 'number' ? arg.toString(16) : Buffer.from(show(arg)).toString('hex');
    else if (verb === 'T') text = arg === null || arg === undefined ? '<nil>' : Array.isArray(arg) ? '[]interface {}' : typeof arg === 'object' ? 'map[string]interface {}' : typeof arg === 'number' ? (Number.isInteger(arg) ? 'int' : 'float64') : typeof arg === 'boolean' ? 'bool' : 'string';
    else text = show(arg);
    if (verb === 's' && precision !== undefined) text = text.slice(0, Number(precision));
    const w = Number(width || 0);
    return flags.includes('-') ? text.padEnd(w) : text.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
  });
}

function compare(name: string, a: unknown, b: unknown): boolean {
  if (name === 'eq') return a === b;
  if (name === 'ne') return a !== b;
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) fail(`${name}: incompatible types for comparison`);
  const x = a as number | string;
  const y = b as number | string;
  return name === 'lt' ? x < y : name === 'le' ? x <= y : name === 'gt' ? x > y : x >= y;
}

function call(name: string, args: unknown[]): unknown {
  const want = (n: number) => {
    if (args.length !== n) fail(`wrong number of args for ${name}: want ${n} got ${args.length}`);
  };
  switch (name) {
    case 'json':
      want(1);
      return JSON.stringify(args[0] ?? null);
    case 'len':
      want(1);
      if (typeof args[0] === 'string' || Array.isArray(args[0])) return args[0].length;
      if (args[0] && typeof args[0] === 'object') return Object.keys(args[0]).length;
      return fail(`len of ${show(args[0])}`);
    case 'index': {
      let value = args[0];
      for (const key of args.slice(1)) {
        if (value === null || value === undefined || typeof value !== 'object') return undefined;
        if (Array.isArray(value) && (typeof key !== 'number' || key < 0 || key >= value.length)) fail(`index out of range: ${show(key)}`);
        value = (value as Record<string, unknown>)[String(key)];
      }
      return value;
    }
    case 'slice': {
      const [value, from, to] = args as [unknown, number | undefined, number | undefined];
      if (typeof value !== 'string' && !Array.isArray(value)) return fail(`can't slice ${show(value)}`);
      return value.slice(from ?? 0, to ?? value.length);
    }
    case 'upper':
    case 'lower':
    case 'title': {
      want(1);
      const text = show(args[0]);
      return name === 'upper' ? text.toUpperCase() : name === 'lower' ? text.toLowerCase() : text.replace(/\b\w/g, (c) => c.toUpperCase());
    }
    case 'join':
      want(2);
      return Array.isArray(args[0]) ? args[0].map(show).join(show(args[1])) : show(args[0]);
    case 'split':
      want(2);
      return show(args[0]).split(show(args[1]));
    case 'pad':
      want(3);
      return `${' '.repeat(Number(args[1]))}${show(args[0])}${' '.repeat(Number(args[2]))}`;
    case 'truncate':
      want(2);
      return show(args[0]).slice(0, Number(args[1]));
    case 'printf':
      return printf(show(args[0]), args.slice(1));
    case 'print':
    case 'println': {
      // Go puts spaces between operands when neither side is a string.
      let out = '';
      args.forEach((a, i) => (out += (i > 0 && (name === 'println' || (typeof a !== 'string' && typeof args[i - 1] !== 'string')) ? ' ' : '') + show(a)));
      return name === 'println' ? `${out}\n` : out;
    }
    case 'not':
      want(1);
      return !truth(args[0]);
    case 'and':
      return args.find((a) => !truth(a)) ?? args[args.length - 1];
    case 'or':
      return args.find((a) => truth(a)) ?? args[args.length - 1];
    default:
      want(2);
      return compare(name, args[0], args[1]);
  }
}

class Scope {
  constructor(
    readonly root: unknown,
    readonly vars: Map<string, unknown>,
  ) {}
}

function evalOperand(o: Operand, dot: unknown, scope: Scope): unknown {
  switch (o.kind) {
    case 'field':
      return walk(dot, o.path);
    case 'var': {
      if (o.name === '$') return walk(scope.root, o.path);
      if (!scope.vars.has(o.name)) fail(`undefined variable: ${o.name}`);
      return walk(scope.vars.get(o.name), o.path);
    }
    case 'literal':
      return o.value;
    case 'pipe':
      return walk(evalPipeline(o.pipe, dot, scope), o.path);
    case 'func':
      return call(o.name, []);
  }
}

function evalPipeline(pipe: Pipeline, dot: unknown, scope: Scope): unknown {
  let value: unknown;
  pipe.commands.forEach((command, i) => {
    const [head, ...rest] = command;
    const args = rest.map((a) => evalOperand(a, dot, scope));
    if (i > 0) args.push(value);
    if (head.kind === 'func') value = call(head.name, args);
    else if (args.length) fail(`${show(evalOperand(head, dot, scope))} is not a function`);
    else value = evalOperand(head, dot, scope);
  });
  if (pipe.decl.length === 1) {
    if (pipe.assign && !scope.vars.has(pipe.decl[0])) fail(`undefined variable: ${pipe.decl[0]}`);
    scope.vars.set(pipe.decl[0], value);
  }
  return value;
}

function execute(nodes: Node[], dot: unknown, scope: Scope): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'action') {
      const value = evalPipeline(node.pipe, dot, scope);
      if (!node.pipe.decl.length) out += show(value);
    } else if (node.kind === 'if' || node.kind === 'with') {
      const inner = new Scope(scope.root, new Map(scope.vars));
      const value = evalPipeline(node.pipe, dot, inner);
      if (truth(value)) out += execute(node.then, node.kind === 'with' ? value : dot, inner);
      else out += execute(node.else, dot, scope);
    } else {
      const decl = node.pipe.decl;
      const value = evalPipeline({ ...node.pipe, decl: [] }, dot, scope);
      const entries: Array<[unknown, unknown]> = Array.isArray(value)
        ? value.map((v, i) => [i, v])
        : value && typeof value === 'object'
          ? Object.keys(value)
              .sort()
              .map((k) => [k, (value as Record<string, unknown>)[k]])
          : value === undefined || value === null
            ? []
            : fail(`range can't iterate over ${show(value)}`);
      if (!entries.length) out += execute(node.else, dot, scope);
      for (const [key, element] of entries) {
        const inner = new Scope(scope.root, new Map(scope.vars));
        if (decl.length === 1) inner.vars.set(decl[0], element);
        if (decl.length === 2) {
          inner.vars.set(decl[0], key);
          inner.vars.set(decl[1], element);
        }
        out += execute(node.then, element, inner);
      }
    }
  }
  return out;
}

export function renderTemplate(template: string, data: unknown): string {
  const text = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return execute(parse(text), data, new Scope(data, new Map()));
}

/**
 * Rows printed with `--format`: `json` one JSON object a line, `table TEMPLATE` as docker's aligned
 * table under a header (each `{{.Field}}` named by `headers`, else its name in capitals), or each
 * row through the template.
 */
export function formatRows(format: string, rows: object[], headers: Record<string, string> = {}): string {
  if (format === 'json') return rows.map((r) => JSON.stringify(r) + '\n').join('');
  const prefix = /^table\s*/.exec(format);
  if (!prefix) return rows.map((r) => renderTemplate(format, r) + '\n').join('');
  const template = format.slice(prefix[0].length);
  const header = new Proxy({}, { get: (_, key) => (typeof key === 'string' ? (headers[key] ?? key.toUpperCase()) : undefined) });
  return table([renderTemplate(template, header), ...rows.map((r) => renderTemplate(template, r))].map((line) => line.split('\t')));
}
