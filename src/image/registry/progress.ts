// What a pull or a push is doing, in docker's words: the status lines `docker pull` and `docker
// push` print per layer, which the Engine API streams too. One table for both directions; a front
// end only draws them.
import type { PullEvent } from './pull.js';
import type { PushEvent } from './push.js';
import { humanSize } from '../../units.js';

/** One layer's status: `current` of `total` bytes, where the status has a size. */
export interface ProgressLine {
  id: string;
  status: string;
  current?: number;
  total?: number;
}

/** The words that differ between the two directions. */
const WORDS = {
  pull: { layers: 'Pulling fs layer', exists: 'Already exists', progress: 'Downloading', done: ['Download complete', 'Pull complete'] },
  push: { layers: 'Preparing', exists: 'Layer already exists', progress: 'Pushing', done: ['Pushed'] },
} as const;

/** The statuses an event sets, in order (a pull's `done` is two of docker's lines). */
export function progressLines(direction: 'pull' | 'push', e: PullEvent | PushEvent): ProgressLine[] {
  const words = WORDS[direction];
  switch (e.type) {
    case 'layers':
      return e.layers.map((l) => ({ id: l.digest, status: words.layers, current: 0, total: l.size }));
    case 'exists':
      return [{ id: e.id, status: words.exists, current: e.size, total: e.size }];
    case 'start':
      return [{ id: e.id, status: 'Waiting', current: 0, total: e.size }];
    case 'progress':
      return [{ id: e.id, status: words.progress, current: e.current, total: e.size }];
    case 'done':
      return words.done.map((status) => ({ id: e.id, status, current: e.size, total: e.size }));
    case 'retry':
      return [{ id: e.id, status: `Retrying (${e.attempt}): ${e.reason}` }];
    case 'resumed':
      return [{ id: e.id, status: `Resuming after ${humanSize(e.offset)}`, current: e.offset, total: e.size }];
    case 'mounted':
      return [{ id: e.id, status: `Mounted from ${e.from}` }];
    case 'resolved':
      return [];
  }
}
