import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '@app/command-line';

/** The image types the web tier accepts, by file name (the server checks the bytes). */
export const IMAGE_FILE = /\.(jpe?g|png|webp|gif)$/i;

/**
 * The files to classify, as absolute paths in a stable order (so a resumed
 * run cuts the same chunks): a folder gives its images (not its subfolders),
 * a file is taken as it is. Each path once, whichever way it was named.
 */
export function listInputs(paths: string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const abs = resolve(p);
    let isDir: boolean;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      throw new UsageError(`no such file or folder: ${p}`);
    }
    if (!isDir) {
      out.add(abs);
      continue;
    }
    const names = readdirSync(abs, { withFileTypes: true })
      .filter((e) => e.isFile() && IMAGE_FILE.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const n of names) out.add(join(abs, n));
  }
  if (out.size === 0) throw new UsageError(`no images (jpg, png, webp, gif) in ${paths.join(', ')}`);
  return [...out];
}
