// Every route of the Engine API that berth answers, gathered from the files that define them.
import { archiveRoutes } from './archive.js';
import { attachRoutes } from './attach.js';
import { buildRoutes } from './build.js';
import { containerInfoRoutes } from './container-info.js';
import { containerRoutes } from './containers.js';
import { eventRoutes } from './events.js';
import { execRoutes } from './exec.js';
import { lifecycleRoutes } from './lifecycle.js';
import { networkRoutes } from './networks.js';
import { imageArchiveRoutes } from './image-archives.js';
import { imageRoutes } from './images.js';
import type { Route } from './router.js';
import { systemRoutes } from './system.js';
import { usageRoutes } from './usage.js';

export function routes(): Route[] {
  return [...systemRoutes, ...eventRoutes, ...usageRoutes, ...containerInfoRoutes, ...imageRoutes, ...imageArchiveRoutes, ...containerRoutes, ...lifecycleRoutes, ...attachRoutes, ...execRoutes, ...networkRoutes, ...archiveRoutes, ...buildRoutes];
}
