// A push parser for tar: feed it chunks, it calls its sink synchronously for each entry and each
// piece of body. No promise per entry, which is what lets the layer applier keep up with GNU tar;
// `readTar` (reader.ts) builds the async-iterator face on top of it.
import {
  applyOverrides,
  BLOCK,
  decodeHeader,
  isZeroBlock,
  longNameText,
  padding,
  parsePax,
  TarError,
  type Overrides,
  type RawKind,
  type TarHeader,
} from './header.js';

export interface TarSink {
  /** A new entry; `offset` is where its (first extension) header starts in the archive. */
  entry(header: TarHeader, offset: number): void;
  /** A piece of the current entry's body: a view of the input chunk, valid during the call only. */
  data(chunk: Buffer): void;
  /** The current entry's body is complete. */
  entryEnd(): void;
}

/** Extension bodies (pax records, GNU long names) larger than this are refused. */
const MAX_EXTENSION = 16 * 1024 * 1024;

type State = 'header' | 'body' | 'skip' | 'ext' | 'zero' | 'done';

export class TarParser {
  /** Bytes of the archive consumed so far. */
  offset = 0;
  private state: State = 'header';
  private readonly block = Buffer.alloc(BLOCK);
  private blockLen = 0;
  /** Body bytes left in the current entry (state body) or bytes to skip (state skip). */
  private remaining = 0;
  private pad = 0;
  private ext: Buffer = Buffer.alloc(0);
  private extLen = 0;
  private extKind: RawKind = 'pax';
  private extOffset = 0;
  private pending: Overrides | null = null;
  /** Where the first extension header of the coming entry started. */
  private entryOffset = -1;

  /** In state skip: what is skipped is only the padding after an entry's body. */
  private skippingPad = false;

  /**
   * `endAtEntry`: the input may end where an entry ends, its padding and the end-of-archive
   * blocks missing, as Go's archive/tar reads it. docker's CLI sends such a build context (when
   * -f names a Dockerfile outside the context, it appends it so); layers are read strictly.
   */
  constructor(
    private readonly sink: TarSink,
    private readonly options: { endAtEntry?: boolean } = {},
  ) {}

  /** True once the end-of-archive blocks were read; later input is ignored. */
  get done(): boolean {
    return this.state === 'done';
  }

  write(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      switch (this.state) {
        case 'header':
        case 'zero': {
          if (this.blockLen === 0 && len - pos >= BLOCK) {
            this.headerBlock(chunk, pos);
            pos += BLOCK;
            this.offset += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.blockLen, len - pos);
            chunk.copy(this.block, this.blockLen, pos, pos + n);
            this.blockLen += n;
            pos += n;
            if (this.blockLen === BLOCK) {
              this.blockLen = 0;
              this.headerBlock(this.block, 0);
              this.offset += BLOCK;
            }
          }
          break;
        }
        case 'body': {
          const n = Math.min(this.remaining, len - pos);
          this.sink.data(n === len && pos === 0 ? chunk : chunk.subarray(pos, pos + n));
          pos += n;
          this.offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endBody();
          break;
        }
        case 'skip': {
          const n = Math.min(this.remaining, len - pos);
          pos += n;
          this.offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'ext': {
          const n = Math.min(this.ext.length - this.extLen, len - pos);
          chunk.copy(this.ext, this.extLen, pos, pos + n);
          this.extLen += n;
          pos += n;
          this.offset += n;
          if (this.extLen === this.ext.length) this.endExtension();
          break;
        }
        case 'done':
          this.offset += len - pos;
          return;
      }
    }
  }

  /** The input ended: throws when the archive was cut short. */
  end(): void {
    if (this.state === 'done') return;
    if (this.state === 'zero' && this.blockLen === 0) {
      this.state = 'done'; // one zero block then EOF: accepted, as GNU tar does
      return;
    }
    const atEntryEnd = (this.state === 'header' && this.blockLen === 0 && this.pending === null && this.entryOffset < 0) || (this.state === 'skip' && this.skippingPad);
    if (this.options.endAtEntry && atEntryEnd) {
      this.state = 'done';
      return;
    }
    const where =
      this.state === 'body' ? `in the body of an entry, ${this.remaining} bytes short` :
      this.state === 'ext' || this.state === 'skip' ? 'in an extension header' :
      this.blockLen > 0 ? 'inside a header block' : 'without the end-of-archive blocks';
    throw new TarError(`truncated archive: input ends ${where}`, this.offset + this.blockLen);
  }

  private headerBlock(buf: Buffer, start: number): void {
    const offset = this.offset;
    if (isZeroBlock(buf, start)) {
      if (this.pending) throw new TarError('end of archive right after an extension header', offset);
      this.state = this.state === 'zero' ? 'done' : 'zero';
      return;
    }
    if (this.state === 'zero') throw new TarError('a lone zero block inside the archive', offset - BLOCK);
    const { kind, header } = decodeHeader(buf, start, offset);
    if (this.entryOffset < 0) this.entryOffset = offset;
    switch (kind) {
      case 'pax':
      case 'pax-global':
      case 'gnu-longname':
      case 'gnu-longlink':
        if (header.size > MAX_EXTENSION) throw new TarError(`extension header of ${header.size} bytes is too large`, offset);
        this.extKind = kind;
        this.extOffset = offset;
        this.ext = Buffer.allocUnsafe(header.size);
        this.extLen = 0;
        this.pad = padding(header.size);
        if (header.size === 0) this.endExtension();
        else this.state = 'ext';
        return;
      case 'skip':
        this.startSkip(header.size + padding(header.size));
        this.entryOffset = -1;
        this.pending = null;
        return;
    }
    if (this.pending) {
      applyOverrides(header, this.pending);
      this.pending = null;
    }
    const entryOffset = this.entryOffset;
    this.entryOffset = -1;
    // Only regular files have bodies; a dumpdir's listing is skipped.
    const bodySize = header.size;
    if (header.type !== 'file') header.size = 0;
    this.sink.entry(header, entryOffset);
    if (header.type === 'file' && bodySize > 0) {
      this.state = 'body';
      this.remaining = bodySize;
      this.pad = padding(bodySize);
      return;
    }
    this.sink.entryEnd();
    if (kind === 'gnu-dumpdir' && bodySize > 0) this.startSkip(bodySize + padding(bodySize));
    else this.state = 'header';
  }

  private endBody(): void {
    this.sink.entryEnd();
    this.startSkip(this.pad, true);
  }

  private startSkip(n: number, pad = false): void {
    this.skippingPad = pad;
    if (n === 0) {
      this.state = 'header';
    } else {
      this.state = 'skip';
      this.remaining = n;
    }
  }

  private endExtension(): void {
    const body = this.ext;
    this.ext = Buffer.alloc(0);
    switch (this.extKind) {
      case 'pax':
        this.pending = parsePax(body, this.extOffset, this.pending ?? {});
        break;
      case 'gnu-longname':
        (this.pending ??= {}).name = longNameText(body);
        break;
      case 'gnu-longlink':
        (this.pending ??= {}).linkname = longNameText(body);
        break;
      default:
        // A global pax header: its records apply to every later entry in theory; layers never use it.
        this.entryOffset = -1;
        break;
    }
    this.startSkip(this.pad);
  }
}
