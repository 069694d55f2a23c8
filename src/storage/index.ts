// berth's storage: layers unpacked once (whiteouts in overlay form), overlay snapshots, and the
// way back from an upper dir to a layer (diff, commit) or from a rootfs to a tar (export).
export { applyTar, cleanLayerPath, TarApplier, type ApplyTarget, type TargetDir } from './apply.js';
export { applyLayer, layerDirName, LayerError, unpackLayerInto, type ApplyLayerOptions, type ApplyLayerResult, type UnpackResult } from './unpack.js';
export {
  ensureLayerLink,
  mountOverlay,
  MOUNT_DATA_MAX,
  overlayLayout,
  renderOverlayMount,
  shortLayerName,
  type OverlayLayout,
  type OverlayMount,
  type OverlayOptions,
} from './overlay.js';
export { diffUpper, isWhiteout, LowerView, writeLayerFromUpper, type Change, type ChangeKind, type LayerFromUpper } from './diff.js';
export { TreeArchiver, walkTree, writeDirectoryTar } from './archive.js';
export { getXattr, layerKeepsXattr, listXattrs, OPAQUE_XATTR, setXattr } from './xattr.js';
