// The part of Go's text/template that `docker ... --format` users write: `{{.A.B}}`,
// `{{json .A}}`, `{{index .Labels "k"}}`, `{{upper .X}}`/`{{lower .X}}`, with `\t` and `\n` as
// docker's CLI reads them. Anything else is refused by name rather than printed wrong.
import { UsageError } from './args.js';

function field(data: unknown, path: string): unknown {
  if (path === '.') return data;
  let value = data;
  for (const key of path.slice(1).split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Go's default printing of a value: maps as map[k:v], lists as [a b], nothing as <no value>. */
function show(value: unknown): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(show).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return `map[${entries.map(([k, v]) => `${k}:${show(v)}`).join(' ')}]`;
  }
  return String(value);
}

function evaluate(action: string, data: unknown): string {
  const words = action.trim().match(/"[^"]*"|\S+/g) ?? [];
  const [head, ...args] = words;
  if (head?.startsWith('.') && args.length === 0) return show(field(data, head));
  if (head === 'json' && args.length === 1) return JSON.stringify(field(data, args[0]) ?? null);
  if ((head === 'upper' || head === 'lower') && args.length === 1) {
    const text = show(field(data, args[0]));
    return head === 'upper' ? text.toUpperCase() : text.toLowerCase();
  }
  if (head === 'index' && args.length === 2) {
    const container = field(data, args[0]);
    const key = args[1].replace(/^"|"$/g, '');
    return show(container && typeof container === 'object' ? (container as Record<string, unknown>)[key] : undefined);
  }
  throw new UsageError(`--format: {{${action}}} is not supported (fields like {{.State.Status}}, json, index, upper, lower are)`);
}

export function renderTemplate(template: string, data: unknown): string {
  const text = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return text.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_, action: string) => evaluate(action, data));
}
