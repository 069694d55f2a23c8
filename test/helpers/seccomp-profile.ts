// The seccomp profile that Debian's containers-common installs (/usr/share/containers/seccomp.json,
// podman's default), turned into runtime-spec form for one set of capabilities on this host, as
// podman does it, by the engine's own conversion (src/engine/seccomp-profile.ts) without berth's
// overlay: tests and the benchmark run containers under a real engine's profile with it.
import type { Seccomp } from '../../src/oci/runtime-spec.js';
import { DEFAULT_SECCOMP_PROFILE, hostTarget, profileToSpec, readProfileFile } from '../../src/engine/seccomp-profile.js';

export const CONTAINERS_COMMON_PROFILE = DEFAULT_SECCOMP_PROFILE;

export function containersCommonProfile(caps: string[]): Seccomp {
  return profileToSpec(readProfileFile(CONTAINERS_COMMON_PROFILE, ''), hostTarget(caps));
}
