import { jsonBytes, MAX_FILE_NAME_BYTES } from '@app/contracts';

/**
 * A user's file name made safe to show and to carry in a launch message: the
 * last path segment only, no control characters, at most MAX_FILE_NAME_BYTES
 * once JSON-encoded (cut on a character boundary, keeping the extension when it
 * fits). The name is only ever shown; storage keys come from ids.
 */
export function sanitizeFileName(raw: string | undefined, fallback = 'image'): string {
  // eslint-disable-next-line no-control-regex
  let name = (raw ?? '').normalize('NFC').replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  name = name.split(/[/\\]/).pop() ?? '';
  name = name.trim();
  if (name === '' || name === '.' || name === '..') return fallback;
  if (jsonBytes(name) <= MAX_FILE_NAME_BYTES) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  const chars = Array.from(ext ? name.slice(0, dot) : name);
  while (chars.length > 0 && jsonBytes(chars.join('') + '…' + ext) > MAX_FILE_NAME_BYTES) chars.pop();
  return chars.join('') + '…' + ext;
}

/** `test_0.JPEG` → `test_0`: the classic answer's prefix. */
export function baseName(fileName: string): string {
  const dot = fileName.lastIndexOf('.');
  return dot > 0 ? fileName.slice(0, dot) : fileName;
}

/** Object metadata must be ASCII: the name travels percent-encoded. */
export function encodeMetadataValue(value: string): string {
  return encodeURIComponent(value);
}

export function decodeMetadataValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
