// berth's tar: a streaming reader and writer with no dependency (ustar, pax, GNU long names).
export { TarError, type TarEntryType, type TarHeader } from './header.js';
export { TarParser, type TarSink } from './parser.js';
export { indexTar, normalizeMemberName, openTarMember, readTar, readTarMembers, type TarEntry, type TarIndexEntry } from './reader.js';
export { TarWriter, type TarEntryInput, type TarWriterResult } from './writer.js';
export { uncompressedWithDigest, type Uncompressed } from './offload.js';
export { byteIterator, createDecompressor, decompressedChunks, decompressedStream, detectCompression, type ByteSource, type Compression } from './compression.js';
