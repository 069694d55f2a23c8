// OCI image-spec v1.1 documents (descriptor, index, manifest, image config) and their Docker
// schema2 twins, written after the spec's JSON schemas (image-spec-v1.1.1: content-descriptor,
// image-index-schema, image-manifest-schema, config-schema, image-layout-schema). Docker's
// manifest list and manifest v2 have the same shape as the OCI index and manifest; only the
// media types differ, so one type serves both.

/** `algorithm:encoded`, e.g. `sha256:` and 64 lowercase hex digits. */
export type Digest = string;

export const MediaType = {
  // OCI image-spec v1.1
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  // Docker image manifest v2, schema 2
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Schema 1 is refused by berth (as by docker 28): named so that the error can say what it is. */
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];

/** Annotation keys berth reads and writes. */
export const Annotation = {
  /** In an OCI layout's index.json: the tag (`latest`) or, as skopeo writes it, a whole reference. */
  refName: 'org.opencontainers.image.ref.name',
  /** containerd's (and docker 25's) whole reference beside refName. */
  containerdImageName: 'io.containerd.image.name',
  created: 'org.opencontainers.image.created',
} as const;

/** content-descriptor.json */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Base64 of the content itself, for small blobs. */
  data?: string;
  artifactType?: string;
  /** Only in an index's `manifests`. */
  platform?: Platform;
}

/** image-index-schema.json `manifests[].platform` */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/** image-index-schema.json; also Docker's manifest list (mediaType dockerManifestList). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** image-manifest-schema.json; also Docker's manifest v2 schema 2 (mediaType dockerManifest). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  /** At least one. */
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** config-schema.json `config`: the defaults of a container made from the image. */
export interface ContainerConfig {
  User?: string;
  /** Keys `port/tcp`, `port/udp` or `port`; values `{}`. */
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  // Docker writes more (Hostname, Healthcheck, OnBuild, Shell...): kept as read, never needed.
  [dockerField: string]: unknown;
}

/** config-schema.json `history[]` */
export interface HistoryEntry {
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  /** True for a step that made no layer (ENV, CMD...): it has no diff_id. */
  empty_layer?: boolean;
}

/** config-schema.json: the image config, whose digest is the image's id (as docker shows it). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  variant?: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  // Docker writes more (container, container_config, docker_version...): kept as read.
  [dockerField: string]: unknown;
}

/** image-layout-schema.json: the `oci-layout` file of an OCI layout. */
export interface ImageLayout {
  imageLayoutVersion: '1.0.0';
}

/** One image of a docker-archive's manifest.json (what `docker save` writes). */
export interface DockerArchiveEntry {
  /** Path of the config JSON inside the archive. */
  Config: string;
  /** Familiar references (`busybox:latest`); null or absent for an untagged image. */
  RepoTags?: string[] | null;
  /** Paths of the layer tars, bottom first. */
  Layers: string[];
  /** docker 25+: descriptors of foreign layers, by layer digest. */
  LayerSources?: Record<Digest, Descriptor>;
}

/** A layer's compression, as found from its media type or its first bytes. */
export type Compression = 'none' | 'gzip' | 'zstd';
