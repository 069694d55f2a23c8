// Platforms as images name them (GOOS/GOARCH, with a variant for arm): the host's, and the choice
// of one manifest from an index or manifest list.
import type { Descriptor, ImageIndex, Platform } from '../oci/image-spec.js';
import { ImageError } from './errors.js';

/** Node's process.arch → the architecture names of image configs and indexes (Go's GOARCH). */
const ARCHITECTURES: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

export function imageArchitecture(nodeArch: string = process.arch): string {
  return ARCHITECTURES[nodeArch] ?? nodeArch;
}

/** The host's platform: linux, its architecture, and arm's variant (v7 unless Node says otherwise). */
export function hostPlatform(): Platform {
  const architecture = imageArchitecture();
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
    return { os: 'linux', architecture, variant: `v${armVersion ?? '7'}` };
  }
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  return { os: 'linux', architecture };
}

/** `linux/amd64`, `linux/arm/v7`: as --platform takes it. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split('/');
  if (!os || !architecture || rest.length > 0) throw new ImageError(`invalid platform ${JSON.stringify(text)}: expected os/arch[/variant]`);
  return { os, architecture: imageArchitecture(architecture === 'x86_64' ? 'x64' : architecture === 'aarch64' ? 'arm64' : architecture), ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Does `candidate` run on `want`? arm64's variant defaults to v8; an absent variant matches any. */
export function platformMatches(candidate: Platform, want: Platform): boolean {
  if (candidate.os !== want.os || candidate.architecture !== want.architecture) return false;
  const norm = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  const c = norm(candidate);
  const w = norm(want);
  return c === undefined || w === undefined || c === w;
}

/** The index's manifest for `want` (default the host's), skipping attestation manifests. */
export function selectManifest(index: ImageIndex, want: Platform = hostPlatform(), what = 'image index'): Descriptor {
  const found = index.manifests.find((m) => m.platform !== undefined && platformMatches(m.platform, want));
  if (found !== undefined) return found;
  // An index whose single image says no platform: take it (skopeo and buildkit write such).
  const images = index.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  if (images.length === 1 && images[0]!.platform === undefined) return images[0]!;
  const offered = index.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown')).join(', ');
  throw new ImageError(`${what}: no manifest for ${formatPlatform(want)} (it has ${offered || 'none'})`);
}
