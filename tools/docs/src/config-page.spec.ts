import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIGURATION_PAGE, renderConfigurationPage } from './config-page';
import { propertyDocs } from './jsdoc';

describe('docs/configuration.md', () => {
  it('is what libs/config says today (after changing a variable, run: npm run docs:config)', () => {
    expect(readFileSync(CONFIGURATION_PAGE, 'utf8')).toBe(renderConfigurationPage());
  });

  it('shows each variable with its default, limits and description', () => {
    const page = renderConfigurationPage();
    expect(page).toContain('| `MAX_WORKERS` | `20` | integer ≥ `1`, ≤ `1000` | Most workers alive at once');
    expect(page).toContain('| `LAUNCH_QUEUE_URL` | **required** | URL |');
    expect(page).toContain('| `MAX_FILE_BYTES` | `10485760` (10 MiB) |');
    expect(page).toContain('| `TF_BACKEND` | `auto` | `auto`, `tensorflow`, `wasm`, `cpu` |');
  });
});

describe('propertyDocs', () => {
  it('reads the JSDoc above each class property, decorators or not, as one line', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'jsdoc-')), 'env.ts');
    writeFileSync(
      file,
      [
        'class E {',
        '  /**',
        '   * Two lines',
        '   * of text.',
        '   */',
        '  @IsInt() A = 1;',
        '  B = 2;',
        '  /** Above the decorator. */',
        '  @IsOptional()',
        '  @IsString() C?: string;',
        '}',
      ].join('\n'),
    );
    expect(Object.fromEntries(propertyDocs([file]))).toEqual({ A: 'Two lines of text.', C: 'Above the decorator.' });
  });
});
