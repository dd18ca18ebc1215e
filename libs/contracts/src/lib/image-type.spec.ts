import sharp from 'sharp';
import { sniffImageType } from './image-type';

describe('sniffImageType', () => {
  it('knows JPEG, PNG, WebP and GIF by their bytes', async () => {
    const pixels = sharp({ create: { width: 4, height: 4, channels: 3, background: '#c33' } });
    expect(sniffImageType(await pixels.clone().jpeg().toBuffer())).toBe('jpg');
    expect(sniffImageType(await pixels.clone().png().toBuffer())).toBe('png');
    expect(sniffImageType(await pixels.clone().webp().toBuffer())).toBe('webp');
    expect(sniffImageType(await pixels.clone().gif().toBuffer())).toBe('gif');
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
