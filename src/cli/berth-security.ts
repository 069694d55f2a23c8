// `run`'s and `create`'s security flags, as docker's: --security-opt, --cap-add, --cap-drop,
// --privileged. They are taken as given; the engine judges them (engine/security.ts), so every
// front end gets the same container.
import type { SecurityOptions } from '../engine/security.js';
import { bool, list, type Parsed } from './args.js';
import type { Flag } from './command.js';

export const SECURITY_FLAGS: Flag[] = [
  { name: 'security-opt', repeatable: true, value: 'OPT', help: 'Security options: seccomp=unconfined|PATH, no-new-privileges[=true|false], apparmor=unconfined, label=disable' },
  { name: 'cap-add', repeatable: true, value: 'CAP', help: 'Add Linux capabilities (NAME, CAP_NAME or ALL)' },
  { name: 'cap-drop', repeatable: true, value: 'CAP', help: 'Drop Linux capabilities (NAME, CAP_NAME or ALL)' },
  { name: 'privileged', boolean: true, help: 'Give extended privileges to this container: all capabilities, no seccomp, host devices, /sys writable' },
];

/** The flags as the engine takes them; undefined when none was given (the defaults). */
export function securityRequest(p: Parsed): SecurityOptions | undefined {
  const opts: SecurityOptions = {};
  if (list(p, 'security-opt').length) opts.securityOpt = list(p, 'security-opt');
  if (list(p, 'cap-add').length) opts.capAdd = list(p, 'cap-add');
  if (list(p, 'cap-drop').length) opts.capDrop = list(p, 'cap-drop');
  if (bool(p, 'privileged')) opts.privileged = true;
  return Object.keys(opts).length ? opts : undefined;
}
