// A container's security settings, decided once here for every front end, as docker's HostConfig
// fields name them (SecurityOpt, CapAdd, CapDrop, Privileged): the capability set, the seccomp
// profile (containers-common's with berth's overlay by default; seccomp-profile.ts),
// no_new_privs, and what --privileged lifts. docs/security.md says what each does.
import { existsSync, readFileSync } from 'node:fs';
import { CAPABILITIES } from '../kernel/capabilities.js';
import { lastCapability } from '../runtime/privileges.js';
import type { Seccomp, Spec } from '../oci/runtime-spec.js';
import { DOCKER_CAPABILITIES, EngineUsageError } from './container-spec.js';
import { defaultSeccomp, userSeccomp } from './seccomp-profile.js';
import { hostDevices } from './host-options.js';

/** What the user asked for, as docker's HostConfig holds it (and `inspect` shows it). */
export interface SecurityOptions {
  /** --security-opt, as given. */
  securityOpt?: string[];
  /** --cap-add / --cap-drop, as given. */
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
}

/** The options understood: what the spec gets. */
export interface SecuritySettings {
  capabilities: string[];
  seccomp: { kind: 'default' } | { kind: 'unconfined' } | { kind: 'file'; path: string };
  noNewPrivileges: boolean;
  privileged: boolean;
}

const HOST_APPARMOR = '/sys/kernel/security/apparmor';
const HOST_SELINUX = '/sys/fs/selinux';

/**
 * Every capability this kernel has and berth holds (docker's --privileged and --cap-add ALL): a
 * root without some (here CAP_SYS_RESOURCE) cannot give them, as podman takes its own bounding set.
 */
export function allCapabilities(): string[] {
  const line = readFileSync('/proc/self/status', 'utf8').match(/^CapBnd:\s*([0-9a-f]+)$/m);
  const held = line ? BigInt(`0x${line[1]}`) : -1n;
  return CAPABILITIES.slice(0, lastCapability() + 1).filter((_, n) => (held >> BigInt(n)) & 1n);
}

/** A --cap-add/--cap-drop name as docker takes it: any case, with or without CAP_; ALL. */
function capabilityName(flag: string, value: string): string {
  const upper = value.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!CAPABILITIES.includes(name)) throw new EngineUsageError(`--${flag}: unknown capability ${JSON.stringify(value)}`);
  return name;
}

/** Docker's rule (moby's TweakCapabilities): privileged or add ALL: all (less the drops); drop ALL: only the adds; else the defaults less drops plus adds. */
export function finalCapabilities(opts: SecurityOptions): string[] {
  if (opts.privileged) return allCapabilities();
  const adds = (opts.capAdd ?? []).map((c) => capabilityName('cap-add', c));
  const drops = (opts.capDrop ?? []).map((c) => capabilityName('cap-drop', c));
  let caps: string[];
  if (adds.includes('ALL')) caps = allCapabilities().filter((c) => !drops.includes(c));
  else if (drops.includes('ALL')) caps = adds;
  else caps = [...DOCKER_CAPABILITIES.filter((c) => !drops.includes(c)), ...adds];
  return [...new Set(caps)];
}

/** A boolean --security-opt value: none (true), true or false. */
function boolValue(opt: string, value: string | undefined): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw new EngineUsageError(`--security-opt ${opt}: must be true or false`);
}

/** Checks every option and reads the profile file now, before anything is made. */
export function securitySettings(opts: SecurityOptions = {}): SecuritySettings {
  const settings: SecuritySettings = { capabilities: finalCapabilities(opts), seccomp: { kind: 'default' }, noNewPrivileges: false, privileged: opts.privileged ?? false };
  for (const opt of opts.securityOpt ?? []) {
    // docker's KEY=VALUE, and its older KEY:VALUE.
    const at = opt.search(/[=:]/);
    const key = at < 0 ? opt : opt.slice(0, at);
    const value = at < 0 ? undefined : opt.slice(at + 1);
    switch (key) {
      case 'seccomp':
        if (!value) throw new EngineUsageError(`--security-opt ${opt}: give seccomp=unconfined or seccomp=PATH of a profile`);
        settings.seccomp = value === 'unconfined' ? { kind: 'unconfined' } : { kind: 'file', path: value };
        break;
      case 'no-new-privileges':
        settings.noNewPrivileges = boolValue(opt, value);
        break;
      case 'apparmor':
        if (value !== 'unconfined') {
          if (!existsSync(HOST_APPARMOR)) throw new EngineUsageError(`--security-opt ${opt}: this host has no AppArmor (${HOST_APPARMOR} is missing); only apparmor=unconfined applies`);
          throw new EngineUsageError(`--security-opt ${opt}: berth applies no AppArmor profile; only apparmor=unconfined applies`);
        }
        break;
      case 'label':
        if (value !== 'disable') {
          if (!existsSync(HOST_SELINUX)) throw new EngineUsageError(`--security-opt ${opt}: this host has no SELinux (${HOST_SELINUX} is missing); only label=disable applies`);
          throw new EngineUsageError(`--security-opt ${opt}: berth applies no SELinux label; only label=disable applies`);
        }
        break;
      default:
        throw new EngineUsageError(`--security-opt ${opt}: unknown security option ${JSON.stringify(key)} (berth knows seccomp, no-new-privileges, apparmor, label)`);
    }
  }
  // Read and checked here, so a bad profile fails the create before anything is made.
  if (settings.seccomp.kind === 'file') userSeccomp(settings.seccomp.path, settings.capabilities);
  return settings;
}

/** The seccomp profile of the settings; none when privileged (docker ignores a profile then too). */
function seccompOf(settings: SecuritySettings): Seccomp | undefined {
  if (settings.privileged) return undefined;
  const s = settings.seccomp;
  if (s.kind === 'unconfined') return undefined;
  return s.kind === 'file' ? userSeccomp(s.path, settings.capabilities) : defaultSeccomp(settings.capabilities);
}

/** Sets the spec's security from the settings, on top of containerSpec's defaults. */
export function applySecurity(spec: Spec, settings: SecuritySettings): void {
  const caps = settings.capabilities;
  spec.process.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
  if (settings.noNewPrivileges) spec.process.noNewPrivileges = true;
  const linux = (spec.linux ??= {});
  const seccomp = seccompOf(settings);
  if (seccomp) linux.seccomp = seccomp;
  if (settings.privileged) {
    // docker's --privileged: no masked or read-only paths, /sys and cgroups writable, every host device.
    delete linux.maskedPaths;
    delete linux.readonlyPaths;
    for (const m of spec.mounts ?? []) {
      if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') m.options = (m.options ?? []).filter((o) => o !== 'ro').concat('rw');
    }
    // The container's /dev/ptmx is its devpts instance's (a symlink the runtime makes), never the host's.
    linux.devices = [...(linux.devices ?? []), ...hostDevices().filter((d) => d.path !== '/dev/ptmx')];
    linux.resources = { ...linux.resources, devices: [{ allow: true, access: 'rwm' }] };
  }
}
