// A container's security settings, decided once here for every front end: the seccomp profile
// (containers-common's with berth's overlay by default; see seccomp-profile.ts and docs/security.md).
import type { Spec } from '../oci/runtime-spec.js';
import { defaultSeccomp } from './seccomp-profile.js';

/** What the user asked for (`--security-opt`, `--cap-add`...); nothing: the defaults. */
export interface SecurityOptions {
  /** seccomp=…: the default profile, none, or a profile file. */
  seccomp?: { kind: 'default' } | { kind: 'unconfined' } | { kind: 'file'; path: string };
}

/** Sets the spec's security settings from `opts`, on top of containerSpec's defaults. */
export function applySecurity(spec: Spec, opts: SecurityOptions = {}): void {
  const bounding = spec.process.capabilities?.bounding ?? [];
  const seccomp = opts.seccomp ?? { kind: 'default' };
  const linux = (spec.linux ??= {});
  if (seccomp.kind === 'default') linux.seccomp = defaultSeccomp(bounding);
}
