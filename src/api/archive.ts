// `docker cp` through the API: HEAD and GET /containers/{id}/archive?path= (its stat in
// X-Docker-Container-Path-Stat, the tar) and PUT (a tar extracted into a directory). The paths are
// confined to the container exactly as `berth cp` confines them: the same engine functions, every
// path resolved with the container's root as "/".
import { archivePath, extractArchive, statInRoot, statSource, type PathStat } from '../engine/copy.js';
import { ApiError, apiHeaders, boolParam, sendEmpty, type ApiRequest } from './http.js';
import type { Route } from './router.js';

/** st_mode as Go's os.FileMode, which docker's stat header carries. */
function goFileMode(mode: number): number {
  let out = mode & 0o777;
  if (mode & 0o4000) out += 2 ** 23; // setuid
  if (mode & 0o2000) out += 2 ** 22; // setgid
  if (mode & 0o1000) out += 2 ** 20; // sticky
  switch (mode & 0o170000) {
    case 0o040000:
      return out + 2 ** 31; // dir
    case 0o120000:
      return out + 2 ** 27; // symlink
    case 0o010000:
      return out + 2 ** 25; // named pipe
    case 0o140000:
      return out + 2 ** 24; // socket
    case 0o020000:
      return out + 2 ** 26 + 2 ** 21; // device, char device
    case 0o060000:
      return out + 2 ** 26; // device
    default:
      return out;
  }
}

function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify({ name: stat.name, size: stat.size, mode: goFileMode(stat.mode), mtime: stat.mtime.toISOString(), linkTarget: stat.linkTarget })).toString('base64');
}

function pathParam(r: ApiRequest): string {
  const path = r.query.get('path');
  if (!path) throw new ApiError('invalid-argument', 'path: the path in the container is required');
  if (path.includes('\0')) throw new ApiError('invalid-argument', 'path: contains a NUL byte');
  return path;
}

async function head(r: ApiRequest): Promise<void> {
  const path = pathParam(r);
  const stat = await r.service.engine.withContainerRoot(r.params[0], async (root) => statInRoot(root, path));
  r.res!.writeHead(200, { ...apiHeaders(), 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/json' });
  r.res!.end();
}

async function get(r: ApiRequest): Promise<void> {
  const path = pathParam(r);
  const res = r.res!;
  await r.service.engine.withContainerRoot(r.params[0], async (root) => {
    const stat = statInRoot(root, path);
    const source = statSource(root, path, false);
    res.writeHead(200, { ...apiHeaders(), 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    await archivePath(root, path, source, false, res);
  });
  res.end();
}

async function put(r: ApiRequest): Promise<void> {
  const path = pathParam(r);
  // noOverwriteDirNonDir: berth's extraction never replaces a directory by a file or the reverse, asked or not.
  boolParam(r.query, 'noOverwriteDirNonDir');
  const owners = boolParam(r.query, 'copyUIDGID');
  await r.service.engine.withContainerRoot(r.params[0], (root) => extractArchive(root, path, r.req, owners));
  sendEmpty(r, 200);
}

export const archiveRoutes: Route[] = [
  { method: 'HEAD', path: '/containers/{id}/archive', handler: head },
  { method: 'GET', path: '/containers/{id}/archive', handler: get },
  { method: 'PUT', path: '/containers/{id}/archive', handler: put },
];
