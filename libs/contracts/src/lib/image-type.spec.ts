import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sniffImageType } from './image-type';

// contracts depends on nothing but its validators (an image codec here would
// become a dependency of every app's artifact), so it reads the repository's
// test images as files; the signatures below pin the near misses.
const formats = join(__dirname, '../../../../tools/testing/fixtures/images/formats');

describe('sniffImageType', () => {
  it('knows JPEG, PNG, WebP and GIF by their bytes', () => {
    for (const ext of ['jpg', 'png', 'webp', 'gif']) expect(sniffImageType(readFileSync(join(formats, `scene.${ext}`)))).toBe(ext);
    expect(sniffImageType(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]))).toBe('png');
    expect(sniffImageType(Buffer.from('RIFF\x24\0\0\0WEBPVP8 ', 'latin1'))).toBe('webp');
    expect(sniffImageType(Buffer.from('GIF89a\x01\0\x01\0', 'latin1'))).toBe('gif');
    expect(sniffImageType(Buffer.from('GIF87a\x01\0\x01\0', 'latin1'))).toBe('gif');
  });

  it('refuses anything else, whatever it is called', () => {
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(sniffImageType(Buffer.from('%PDF-1.7\n'))).toBeUndefined();
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
    // Truncated signatures and near misses.
    expect(sniffImageType(Buffer.from([0xff, 0xd8]))).toBeUndefined();
    expect(sniffImageType(Buffer.from('GIF88a'))).toBeUndefined();
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVEfmt '))).toBeUndefined();
    expect(sniffImageType(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a]))).toBeUndefined();
  });
});
