// `berth-runtime features`: what this runtime supports, in the runtime-spec's features format.
import { detectCgroupLayout } from '../cgroups/detect.js';
import { libseccompVersion } from '../kernel/seccomp.js';
import { CAPABILITIES } from '../kernel/capabilities.js';
import { SECCOMP_ACTIONS, SECCOMP_FLAGS, SECCOMP_OPERATORS, supportedArchitectures, supportedFlags } from './seccomp.js';
import { HOOK_KINDS, NAMESPACE_TYPES } from '../oci/runtime-spec.js';

const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'loud', 'mand',
  'noatime', 'nodev', 'nodiratime', 'noexec', 'nomand', 'norelatime', 'nostrictatime', 'nosuid',
  'nosymfollow', 'private', 'rbind', 'relatime', 'remount', 'ro', 'rprivate', 'rshared', 'rslave',
  'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime', 'suid', 'symfollow', 'sync',
  'unbindable',
];

export function features() {
  const layout = detectCgroupLayout();
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.3.0',
    hooks: [...HOOK_KINDS],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: [...NAMESPACE_TYPES],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: layout.mode !== 'unified', v2: layout.v2 !== null, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPERATORS],
        // What this libseccomp can compile for, and what this kernel takes.
        archs: supportedArchitectures(),
        knownFlags: [...SECCOMP_FLAGS],
        supportedFlags: supportedFlags(),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: {
      'org.berth.cgroup.layout': layout.mode,
      // runc's annotation for the library it compiles filters with.
      'io.github.seccomp.libseccomp.version': libseccompVersion(),
    },
  };
}
