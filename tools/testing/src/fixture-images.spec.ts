import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadSharp, renderFixtureImages, type RenderedImage } from './fixture-images';

// Loaded, not imported: see loadSharp.
const sharp = loadSharp();
import { FIXTURE_IMAGES_DIR, MODEL_DIR, smallImageNames } from './fixtures';

function committed(dir = FIXTURE_IMAGES_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? committed(join(dir, e.name)) : e.name === 'LICENSE' ? [] : [relative(FIXTURE_IMAGES_DIR, join(dir, e.name))],
  );
}

const pixels = (bytes: Buffer) => sharp(bytes).removeAlpha().raw().toBuffer();

describe('the test fixtures shipped in the repository', () => {
  let rendered: RenderedImage[];
  beforeAll(async () => {
    rendered = await renderFixtureImages();
  }, 60_000);

  it('are exactly what the generator renders (re-run render-fixtures.ts and commit after changing it)', async () => {
    expect(committed().sort()).toEqual(rendered.map((r) => r.file).sort());
    for (const r of rendered) {
      // Compared as pixels: another libjpeg build may encode the same pixels to other bytes.
      const [want, got] = await Promise.all([pixels(r.bytes), pixels(readFileSync(join(FIXTURE_IMAGES_DIR, r.file)))]);
      expect(got.length).toBe(want.length);
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff += Math.abs(want[i] - got[i]);
      expect({ file: r.file, meanDiff: diff / want.length < 2 }).toEqual({ file: r.file, meanDiff: true });
    }
  }, 60_000);

  it('hold one image per format, each really of that format', async () => {
    const formats = Object.fromEntries(
      await Promise.all(
        ['jpg', 'png', 'webp', 'gif'].map(async (ext) => [ext, (await sharp(join(FIXTURE_IMAGES_DIR, `formats/scene.${ext}`)).metadata()).format]),
      ),
    );
    expect(formats).toEqual({ jpg: 'jpeg', png: 'png', webp: 'webp', gif: 'gif' });
    expect((await sharp(join(FIXTURE_IMAGES_DIR, 'formats/scene.png')).metadata()).hasAlpha).toBe(true);
  });

  it('number the small JPEGs test_0 to test_99, all distinct', () => {
    const names = smallImageNames();
    expect(names).toHaveLength(100);
    expect(names[0]).toBe('test_0.JPEG');
    expect(names[99]).toBe('test_99.JPEG');
    const distinct = new Set(names.map((n) => readFileSync(join(FIXTURE_IMAGES_DIR, 'small', n)).toString('base64')));
    expect(distinct.size).toBe(100);
  });

  it('carry the small model with its licence and metadata', () => {
    const files = readdirSync(MODEL_DIR).sort();
    expect(files).toEqual(['LICENSE', 'group1-shard1of1', 'metadata.json', 'model.json']);
    expect(readFileSync(join(MODEL_DIR, 'LICENSE'), 'utf8')).toMatch(/Apache License, Version 2\.0/);
    expect(JSON.parse(readFileSync(join(MODEL_DIR, 'metadata.json'), 'utf8'))).toMatchObject({ inputRange: [0, 1], labelOffset: 1 });
  });
});
