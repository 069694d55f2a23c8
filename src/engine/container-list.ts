// `ps`: which containers a listing shows and the words of its STATUS column, as docker's, for
// `berth ps` and the Engine API's container list alike.
import { BerthError } from '../errors.js';
import { humanDuration } from '../units.js';
import type { ContainerRecord } from './containers.js';

const STATUSES = ['created', 'running', 'paused', 'exited', 'restarting', 'removing', 'dead'];
/** docker's `label` filter value against labels: `key` (present) or `key=value`. */
export function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  return eq < 0 ? filter in labels : labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

export const LIST_FILTERS = ['status', 'name', 'id', 'label', 'exited', 'ancestor'];

function since(iso: string | undefined): string {
  return iso ? `${humanDuration(Date.now() - Date.parse(iso))} ago` : '';
}

/** docker's STATUS column: `Up 2 minutes`, `Exited (0) 3 seconds ago`. */
export function statusText(record: ContainerRecord): string {
  const { status } = record.state;
  if (status === 'created') return 'Created';
  if (status === 'running') return `Up ${humanDuration(Date.now() - Date.parse(record.state.startedAt ?? record.created))}`;
  if (status === 'paused') return `Up ${humanDuration(Date.now() - Date.parse(record.state.startedAt ?? record.created))} (Paused)`;
  return `Exited (${record.state.exitCode}) ${since(record.state.finishedAt)}`;
}

/**
 * docker ps's filters, each a key and a value: status, name (substring), id (prefix), label (k or
 * k=v), exited, ancestor. Filters of one key match any of their values (labels: all of them); of
 * different keys, all.
 */
export function containerFilter(filters: [string, string][]): (r: ContainerRecord) => boolean {
  const byKey = new Map<string, ((r: ContainerRecord) => boolean)[]>();
  for (const [key, value] of filters) {
    let test: (r: ContainerRecord) => boolean;
    switch (key) {
      case 'status':
        if (!STATUSES.includes(value)) throw new BerthError(`filter status=${value}: not a container status`, { kind: 'invalid-argument' });
        test = (r) => r.state.status === value;
        break;
      case 'name':
        test = (r) => r.name.includes(value.replace(/^\//, ''));
        break;
      case 'id':
        test = (r) => r.id.startsWith(value);
        break;
      case 'label':
        test = (r) => labelMatches(r.labels, value);
        break;
      case 'exited':
        test = (r) => r.state.status === 'exited' && String(r.state.exitCode) === value;
        break;
      case 'ancestor':
        test = (r) => r.image === value || r.imageId.replace(/^sha256:/, '').startsWith(value.replace(/^sha256:/, ''));
        break;
      default:
        throw new BerthError(`filter ${key}: unknown filter (${LIST_FILTERS.join(', ')})`, { kind: 'invalid-argument' });
    }
    byKey.set(key, [...(byKey.get(key) ?? []), test]);
  }
  return (r) => [...byKey].every(([key, tests]) => (key === 'label' ? tests.every((t) => t(r)) : tests.some((t) => t(r))));
}
