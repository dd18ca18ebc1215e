import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Small JPEGs decoded by libjpeg-turbo compiled to WebAssembly (the build that
 * @cwasm/jpeg-turbo ships), on the calling thread.
 *
 * Why: sharp's fixed cost per image is most of a small image's decode. A 64x64
 * JPEG (the benchmark's images) costs 0.6-0.8 ms of CPU through sharp (its options
 * read one by one through N-API, libvips' operations set up and torn down, the
 * work handed to two threads and back), of which decoding proper is under 0.1;
 * here it costs about 0.1 ms (`npm run bench:floor`: `decode` against
 * `decodeJpegInLibvips`).
 *
 * The same library as libvips' JPEG loader, with the same defaults (the accurate
 * integer IDCT, fancy upsampling), so the pixels are the same bytes (checked in
 * wasm-jpeg.spec.ts against sharp). Only a JPEG that libvips would hand back as
 * decoded is taken here (see `plainJpeg`); anything else, and any JPEG that
 * decodes with a warning or an error here, is left to libvips, which decides what
 * to make of it (a truncated file is an error there, as it always was).
 *
 * The package's own entry point is not used: its one instance cannot be replaced,
 * and a libjpeg error unwinds out of the WebAssembly without restoring its stack
 * (its `longjmp` is a JavaScript throw), so after an error this decoder starts a
 * fresh instance.
 */

/** TurboJPEG's constants (turbojpeg.h). */
const TJPF_RGB = 0;
const TJCS_YCBCR = 1;
const TJFLAG_ACCURATEDCT = 4096;

/** Most pixels decoded here: on the caller's thread, a larger image would hold up its event loop (about 1 ms at this size). */
export const MOST_WASM_JPEG_PIXELS = 512 * 512;
/** Most encoded bytes taken here (the WebAssembly memory only grows). */
export const MOST_WASM_JPEG_BYTES = 1024 * 1024;

interface TurboJpegExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(pointer: number): void;
  tjInitDecompress(): number;
  tjDestroy(handle: number): number;
  tjDecompressHeader3(handle: number, jpeg: number, jpegSize: number, width: number, height: number, subsampling: number, colourspace: number): number;
  tjDecompress2(handle: number, jpeg: number, jpegSize: number, out: number, width: number, pitch: number, height: number, pixelFormat: number, flags: number): number;
}

/** libjpeg left through its error handler (a C longjmp), so the instance's state is not to be trusted. */
class LongJump extends Error {}

/** What a JPEG's markers before its first scan say about how it decodes. */
export interface JpegLayout {
  /** The frame marker (0xc0 baseline, 0xc1 extended, 0xc2 progressive, ...). */
  frame: number;
  precision: number;
  width: number;
  height: number;
  components: number;
  /** Whether it embeds an ICC profile (which libvips converts through). */
  icc: boolean;
  /** An Adobe APP14 marker's colour transform, when it has one. */
  adobeTransform?: number;
}

/** The markers of a JPEG up to its first scan; undefined when they do not read as a JPEG's. */
export function readJpegLayout(bytes: Uint8Array): JpegLayout | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let at = 2;
  let icc = false;
  let adobeTransform: number | undefined;
  let frame: Omit<JpegLayout, 'icc' | 'adobeTransform'> | undefined;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // a fill byte
      continue;
    }
    if (marker === 0xda) return frame && { ...frame, icc, adobeTransform };
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    const body = at + 4;
    if (length < 2 || body + length - 2 > bytes.length) return undefined;
    if (marker === 0xe2 && startsWith(bytes, body, 'ICC_PROFILE\0')) icc = true;
    if (marker === 0xee && length >= 14 && startsWith(bytes, body, 'Adobe')) adobeTransform = bytes[body + 11];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 8) return undefined;
      frame = {
        frame: marker,
        precision: bytes[body],
        height: (bytes[body + 1] << 8) | bytes[body + 2],
        width: (bytes[body + 3] << 8) | bytes[body + 4],
        components: bytes[body + 5],
      };
    }
    at = body + length - 2;
  }
  return undefined;
}

function startsWith(bytes: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * Whether libvips would hand this JPEG's decoded pixels back unchanged (as this decoder makes
 * them): 8-bit baseline or extended (sequential) Huffman, three components in YCbCr, no ICC
 * profile to convert through, no EXIF rotation (`orientation`, as the caller read it); and
 * small enough to decode on the caller's thread. Not progressive: a progressive JPEG may hold
 * any number of scans, each a pass over all its pixels, so that a small file could hold the
 * caller's thread for minutes; libvips decodes those on the thread pool.
 */
export function plainJpeg(layout: JpegLayout, orientation: number | undefined, byteLength: number): boolean {
  if (byteLength > MOST_WASM_JPEG_BYTES) return false;
  const { frame, precision, width, height, components, icc, adobeTransform } = layout;
  return (
    (frame === 0xc0 || frame === 0xc1) &&
    precision === 8 &&
    components === 3 &&
    !icc &&
    (adobeTransform === undefined || adobeTransform === 1) &&
    (orientation === undefined || orientation === 1) &&
    width > 0 &&
    height > 0 &&
    width * height <= MOST_WASM_JPEG_PIXELS
  );
}

export interface DecodedJpeg {
  /** width x height x 3, RGB. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

let compiled: WebAssembly.Module | undefined;

/** One libjpeg-turbo instance and its decompressor, re-used from image to image; replaced after an error. */
export class WasmJpegDecoder {
  private lib: { exports: TurboJpegExports; handle: number; scratch: number; scratchBytes: number } | undefined;
  /** Instances started so far (a new one after each libjpeg error). */
  instances = 0;

  /**
   * The JPEG's RGB pixels, or undefined when libjpeg warned or failed (the caller leaves the
   * image to libvips). The caller has checked `plainJpeg`.
   */
  decode(bytes: Uint8Array, layout: JpegLayout): DecodedJpeg | undefined {
    const lib = (this.lib ??= this.start());
    try {
      const { exports } = lib;
      const outBytes = layout.width * layout.height * 3;
      // One block: four ints for the header, then the JPEG, then the pixels.
      const pointer = this.scratch(lib, 16 + bytes.length + outBytes);
      const jpeg = pointer + 16;
      const out = jpeg + bytes.length;
      new Uint8Array(exports.memory.buffer, jpeg, bytes.length).set(bytes);
      if (exports.tjDecompressHeader3(lib.handle, jpeg, bytes.length, pointer, pointer + 4, pointer + 8, pointer + 12) !== 0) return undefined;
      const [width, height, , colourspace] = new Int32Array(exports.memory.buffer, pointer, 4);
      // The header as libjpeg reads it must be the one the markers said (a second frame, say, is libvips' to judge).
      if (width !== layout.width || height !== layout.height || colourspace !== TJCS_YCBCR) return undefined;
      // Non-zero: a warning (a truncated or corrupt stream) or an error; libvips says which it is.
      if (exports.tjDecompress2(lib.handle, jpeg, bytes.length, out, width, width * 3, height, TJPF_RGB, TJFLAG_ACCURATEDCT) !== 0) return undefined;
      return { pixels: new Uint8Array(exports.memory.buffer, out, outBytes).slice(), width, height };
    } catch (err) {
      if (!(err instanceof LongJump)) throw err;
      this.lib = undefined;
      return undefined;
    }
  }

  /** A block of at least `size` bytes in the instance's memory, kept for the next image. */
  private scratch(lib: NonNullable<WasmJpegDecoder['lib']>, size: number): number {
    if (size > lib.scratchBytes) {
      if (lib.scratch) lib.exports.free(lib.scratch);
      lib.scratchBytes = Math.max(size, 64 * 1024);
      lib.scratch = lib.exports.malloc(lib.scratchBytes);
      if (!lib.scratch) throw new RangeError(`libjpeg-turbo could not allocate ${lib.scratchBytes} bytes`);
    }
    return lib.scratch;
  }

  private start(): NonNullable<WasmJpegDecoder['lib']> {
    compiled ??= new WebAssembly.Module(readFileSync(createRequire(__filename).resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm')));
    // Set once instantiated: the imports are made before the memory they write into exists.
    const started: { memory?: WebAssembly.Memory } = {};
    const EBADF = 8;
    const instance = new WebAssembly.Instance(compiled, {
      env: {
        // libjpeg's error handler longjmps back to TurboJPEG's setjmp; without C's, an error ends the call here.
        setjmp: () => 0,
        longjmp: () => {
          throw new LongJump('libjpeg error');
        },
      },
      wasi_snapshot_preview1: {
        // No environment (TurboJPEG reads a few tuning variables), no files.
        environ_sizes_get: (count: number, size: number) => {
          const view = new DataView((started.memory as WebAssembly.Memory).buffer);
          view.setUint32(count, 0, true);
          view.setUint32(size, 0, true);
          return 0;
        },
        environ_get: () => 0,
        fd_close: () => EBADF,
        fd_seek: () => EBADF,
        fd_write: () => EBADF,
        proc_exit: () => {
          throw new LongJump('libjpeg exited');
        },
      },
    });
    const exports = instance.exports as unknown as TurboJpegExports;
    started.memory = exports.memory;
    const handle = exports.tjInitDecompress();
    if (!handle) throw new RangeError('libjpeg-turbo could not start a decompressor');
    this.instances++;
    return { exports, handle, scratch: 0, scratchBytes: 0 };
  }
}
