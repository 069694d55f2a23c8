// GET /system/df (docker system df: images, containers and volumes with the space each takes, as
// `berth system df` reads them) and POST /auth (docker login: the credentials checked against the
// registry as `berth login` checks them; nothing is stored by the service, the client keeps them).
import { registryDomain } from '../image/index.js';
import { verifyLogin } from '../image/registry/index.js';
import { containerSummary } from './containers.js';
import { ApiError, bodyString, readJson, sendJson, type ApiRequest } from './http.js';
import { imageSummaries } from './images.js';
import { volumeOf } from './networks.js';
import type { Route } from './router.js';

async function df(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const containers = await engine.list();
  const images = (await imageSummaries(engine)).filter((i) => !i.record.buildCache).map((i) => i.summary);
  const volumes = engine.volumes.list().map((v) => ({ ...volumeOf(v), UsageData: { Size: engine.volumes.size(v.Name), RefCount: engine.volumes.usersOf(v.Name, containers).length } }));
  sendJson(r, 200, {
    LayersSize: engine.images.diskUsage().blobBytes,
    Images: images,
    Containers: containers.map((c) => {
      const sizeRw = engine.writableLayerSize(c.id);
      const image = images.find((i) => i.Id === c.imageId);
      return { ...containerSummary(engine, c), SizeRw: sizeRw, SizeRootFs: sizeRw + ((image?.Size as number | undefined) ?? 0) };
    }),
    Volumes: volumes,
    BuildCache: [],
  });
}

async function auth(r: ApiRequest): Promise<void> {
  const body = await readJson(r);
  const username = bodyString('username', body.username);
  const password = bodyString('password', body.password);
  if (body.identitytoken || body.registrytoken) throw new ApiError('invalid-argument', 'berth takes a username and password, not tokens');
  if (!username || !password) throw new ApiError('invalid-argument', 'a username and a password are required');
  await verifyLogin(registryDomain(bodyString('serveraddress', body.serveraddress)), { username, password });
  sendJson(r, 200, { Status: 'Login Succeeded', IdentityToken: '' });
}

export const usageRoutes: Route[] = [
  { method: 'GET', path: '/system/df', handler: df },
  { method: 'POST', path: '/auth', handler: auth },
];
