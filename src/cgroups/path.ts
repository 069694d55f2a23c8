// linux.cgroupsPath → the container's cgroup, as a path from the root of a cgroupfs mount
// (`/berth/<id>`), the same in every hierarchy.
import { refuse } from './errors.js';

const FIELD = 'linux.cgroupsPath';

/** Where containers go when their config names no cgroup, or a relative one. */
export const DEFAULT_CGROUP_PARENT = '/berth';

/** The systemd form `slice:prefix:name`: a slice (or nothing) first, no `/` anywhere. */
const SYSTEMD_FORM = /^([^:/]*):([^:/]*):([^:/]+)$/;

/**
 * The cgroup of container `id`, cgroupfs-relative and absolute:
 * - none or empty: `/berth/<id>`;
 * - absolute (`/a/b`): as given;
 * - relative (`a/b`): under `/berth/` (`/berth/a/b`). runc and crun put a relative path under the
 *   runtime's own cgroup; berth does not: the caller's cgroup belongs to whoever started it (on
 *   this kind of machine, the machine's own tooling), and a container has no business inside it;
 * - systemd's `slice:prefix:name` (`system.slice:berth:abc`): where systemd would put that unit,
 *   `/system.slice/berth-abc.scope`. No systemd is asked; the path is only laid out as its.
 *
 * Refused, naming `linux.cgroupsPath`: NUL, `.`/`..` components, empty components (`a//b`,
 * a trailing `/`, and `/` itself: the root cgroup is not a container's).
 */
export function parseCgroupsPath(cgroupsPath: string | undefined, id: string): string {
  if (cgroupsPath === undefined || cgroupsPath === '') {
    checkComponent(id, 'the container id');
    return `${DEFAULT_CGROUP_PARENT}/${id}`;
  }
  if (cgroupsPath.includes('\0')) throw refuse(FIELD, 'must not contain NUL');
  const systemd = SYSTEMD_FORM.exec(cgroupsPath);
  // `foo:bar:baz` with no slice in front reads as a plain relative path, as runc without
  // --systemd-cgroup would read it; the systemd form starts with a slice or with nothing.
  if (systemd && (systemd[1] === '' || systemd[1].endsWith('.slice'))) return systemdPath(systemd[1], systemd[2], systemd[3]);
  const path = cgroupsPath.startsWith('/') ? cgroupsPath : `${DEFAULT_CGROUP_PARENT}/${cgroupsPath}`;
  checkPath(path);
  return path;
}

function checkPath(path: string): void {
  if (path === '/') throw refuse(FIELD, 'must name a cgroup below the root (the root cgroup is the whole machine)');
  for (const component of path.slice(1).split('/')) checkComponent(component, JSON.stringify(path));
}

function checkComponent(component: string, where: string): void {
  if (component === '') throw refuse(FIELD, `${where} has an empty component (a doubled or trailing "/")`);
  if (component === '.' || component === '..') throw refuse(FIELD, `${where} has a "${component}" component; cgroup paths are taken literally`);
  if (component.includes('/')) throw refuse(FIELD, `${where} must not contain "/"`);
}

/**
 * systemd's unit `name` (a scope `prefix-name.scope`, or a slice when it ends in `.slice`) in
 * `slice` (default `system.slice`), laid out as systemd lays out cgroups: a slice's place comes
 * from its name, `a-b.slice` being `/a.slice/a-b.slice`.
 */
function systemdPath(slice: string, prefix: string, name: string): string {
  const parent = expandSlice(slice === '' ? 'system.slice' : slice);
  let path: string;
  if (name.endsWith('.slice')) {
    // A slice is a unit whose place is its name: it must lie inside the slice it is given.
    path = expandSlice(name);
    if (parent !== '/' && !path.startsWith(`${parent}/`)) {
      const inside = `${parent.slice(parent.lastIndexOf('/') + 1, -'.slice'.length)}-${name}`;
      throw refuse(FIELD, `slice ${name} does not lie inside ${slice} (a slice's parent is named by its prefix, e.g. ${inside})`);
    }
  } else {
    path = `${parent === '/' ? '' : parent}/${prefix === '' ? '' : `${prefix}-`}${name}.scope`;
  }
  checkPath(path);
  return path;
}

/** `a-b.slice` → `/a.slice/a-b.slice`; `-.slice` (the root slice) → `/` (systemd's rules, as runc's ExpandSlice). */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice === '.slice' || slice.includes('/')) {
    throw refuse(FIELD, `${JSON.stringify(slice)} is not a slice name (NAME.slice)`);
  }
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '/';
  let path = '';
  let prefix = '';
  for (const part of name.split('-')) {
    if (part === '') throw refuse(FIELD, `${JSON.stringify(slice)} is not a valid slice name (empty part between "-")`);
    path += `/${prefix}${part}.slice`;
    prefix += `${part}-`;
  }
  return path;
}
