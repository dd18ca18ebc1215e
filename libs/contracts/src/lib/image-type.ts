import type { ImageExtension } from './keys';

/**
 * The image type told by the file's first bytes (its signature), never by its
 * name or the declared Content-Type: both come from the client and a renamed
 * text file would otherwise reach a worker as an "image". The web tier checks
 * uploads with it, and the classifier lets only these four reach the decoder.
 */
export function sniffImageType(bytes: Uint8Array): ImageExtension | undefined {
  const starts = (sig: number[], at = 0) =>
    bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);
  // JPEG: SOI marker followed by the start of another marker.
  if (starts([0xff, 0xd8, 0xff])) return 'jpg';
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  // GIF87a / GIF89a
  if (starts([0x47, 0x49, 0x46, 0x38]) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return 'gif';
  // RIFF....WEBP
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  return undefined;
}
