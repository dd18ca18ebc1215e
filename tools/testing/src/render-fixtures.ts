/**
 * Renders the test images into tools/testing/fixtures/images:
 *   npx tsx tools/testing/src/render-fixtures.ts
 * Commit the result; fixture-images.spec.ts fails when the committed files and the generator disagree.
 */
import { FIXTURE_IMAGES_DIR } from './fixtures';
import { writeFixtureImages } from './fixture-images';

void writeFixtureImages(FIXTURE_IMAGES_DIR).then((images) => {
  const bytes = images.reduce((s, i) => s + i.bytes.length, 0);
  console.log(`wrote ${images.length} images (${(bytes / 1024).toFixed(0)} KiB) to ${FIXTURE_IMAGES_DIR}`);
});
