import { jsonBytes, launchMessage, MAX_FILE_NAME_BYTES } from '@app/contracts';
import { baseName, decodeMetadataValue, encodeMetadataValue, sanitizeFileName } from './file-name';

describe('sanitizeFileName', () => {
  it('keeps ordinary names as they are', () => {
    expect(sanitizeFileName('test_0.JPEG')).toBe('test_0.JPEG');
    expect(sanitizeFileName('Été à Zürich 🌄.png')).toBe('Été à Zürich 🌄.png');
  });

  it('drops paths and control characters, and names a nameless file', () => {
    expect(sanitizeFileName('C:\\Users\\me\\cat.jpg')).toBe('cat.jpg');
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('bad\u0000na\nme\u001b.gif')).toBe('badname.gif');
    expect(sanitizeFileName('', 'image-3')).toBe('image-3');
    expect(sanitizeFileName('..')).toBe('image');
    expect(sanitizeFileName(undefined)).toBe('image');
  });

  it('cuts long names to the launch message limit on a character boundary, keeping the extension', () => {
    const long = `${'ü🌄"'.repeat(200)}.webp`;
    const name = sanitizeFileName(long);
    expect(jsonBytes(name)).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
    expect(name.endsWith('….webp')).toBe(true);
    expect(name).not.toContain('\uFFFD');
    // The contract accepts it.
    const id = '5b1d3b1e-8d0e-4b5c-9a55-2f7a3c1d9e01';
    expect(() =>
      launchMessage({ batchId: id, imageId: id, fileName: name, attempt: 1, inputKey: `${id}/${id}.webp`, enqueuedAt: new Date().toISOString() }),
    ).not.toThrow();
  });
});

describe('baseName and metadata encoding', () => {
  it('strips only the last extension', () => {
    expect(baseName('test_0.JPEG')).toBe('test_0');
    expect(baseName('a.tar.gz')).toBe('a.tar');
    expect(baseName('.hidden')).toBe('.hidden');
    expect(baseName('noext')).toBe('noext');
  });

  it('round-trips any name through ASCII metadata', () => {
    const name = 'Été 🌄 100%.png';
    const enc = encodeMetadataValue(name);
    expect(enc).toMatch(/^[\x20-\x7e]+$/);
    expect(decodeMetadataValue(enc)).toBe(name);
    expect(decodeMetadataValue('%E0%A4%A')).toBe('%E0%A4%A');
    expect(decodeMetadataValue(undefined)).toBeUndefined();
  });
});
