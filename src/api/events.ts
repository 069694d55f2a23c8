// GET /events: docker's event stream from the engine's event log (engine/events.ts): with since
// or until the past events in that window first, then, until `until` or until the client goes,
// each new one as a JSON line as it happens, filtered as dockerd filters.
import { eventFilter, streamEvents } from '../engine/events.js';
import { parseLogTime } from '../engine/logs.js';
import { ApiError, filtersParam, type ApiRequest } from './http.js';
import type { Route } from './router.js';
import { startStream } from './stream.js';

function timeParam(r: ApiRequest, name: string): number | undefined {
  const text = r.query.get(name);
  if (text === null || text === '') return undefined;
  try {
    return parseLogTime(text);
  } catch {
    throw new ApiError('invalid-argument', `query parameter ${name}=${text}: not a time (Unix seconds, RFC 3339 or a duration)`);
  }
}

async function events(r: ApiRequest): Promise<void> {
  const since = timeParam(r, 'since');
  const until = timeParam(r, 'until');
  if (since !== undefined && until !== undefined && until < since) throw new ApiError('invalid-argument', '`since` time is after `until` time');
  const filter = eventFilter(filtersParam(r.query));
  const client = startStream(r, 'application/json');
  const stop = new AbortController();
  void client.closed.then(() => stop.abort());
  await streamEvents(r.service.engine.root, { since, until, filter, onEvent: (e) => client.write('stdout', Buffer.from(JSON.stringify(e) + '\n')), signal: stop.signal });
  client.end();
}

export const eventRoutes: Route[] = [{ method: 'GET', path: '/events', handler: events }];
