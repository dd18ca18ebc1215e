import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelIntegrityError, ModelLoadError } from './errors';

/** `sha256sum` output beside a model: `<64 hex>  <file>` per line (`sha256sum -c SHA256SUMS` checks it too). */
export const CHECKSUMS_FILE = 'SHA256SUMS';

const SHA256 = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function sha256OfFile(path: string): string {
  return sha256Hex(readFileSync(path));
}

export function isSha256(value: string): boolean {
  return SHA256.test(value);
}

/** File name -> SHA-256 (lower-case hex). */
export function parseChecksums(text: string, where: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new ModelLoadError(`${where} line ${i + 1}: expected "<sha256>  <file>"`);
    sums.set(m[2], m[1].toLowerCase());
  }
  return sums;
}

export function readChecksums(path: string): Map<string, string> {
  return parseChecksums(readFileSync(path, 'utf8'), path);
}

/** The checksums beside a model, if it has a SHA256SUMS file. */
export function checksumsBeside(dir: string): Map<string, string> | undefined {
  const file = join(dir, CHECKSUMS_FILE);
  return existsSync(file) ? readChecksums(file) : undefined;
}

/**
 * Checks each listed file of `dir` against its SHA-256; every name in
 * `required` must be listed. Throws a ModelLoadError naming the file.
 * `hashed`: SHA-256s the caller has just computed from the same bytes (file name ->
 * hash), so that a large model file is not read and hashed a second time at start.
 */
export function verifyChecksums(dir: string, sums: Map<string, string>, required: string[], where: string, hashed: ReadonlyMap<string, string> = new Map()): void {
  for (const name of required) {
    if (!sums.has(name)) throw new ModelLoadError(`${where}: ${name} has no checksum`);
  }
  for (const [name, expected] of sums) {
    const file = join(dir, name);
    if (!existsSync(file)) throw new ModelLoadError(`${where}: ${name} is missing from ${dir}`);
    const actual = hashed.get(name) ?? sha256OfFile(file);
    if (actual !== expected) {
      throw new ModelIntegrityError(`${where}: ${file} has SHA-256 ${actual}, expected ${expected}: the file is corrupt or not the model it should be`);
    }
  }
}
