import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { convertGraphModel } from './convert';
import { ConversionError, readGraphModelFolder } from './tf-graph';

export interface FolderConversion {
  outFile: string;
  sha256: string;
  bytes: number;
}

/** The SHA-256 a `sha256sum`-style file gives for `fileName` (`<hex>  <name>` lines). */
export function expectedSha256(checksumsFile: string, fileName: string): string {
  for (const line of readFileSync(checksumsFile, 'utf8').split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (m && m[2] === fileName) return m[1].toLowerCase();
  }
  throw new ConversionError(`${checksumsFile} has no SHA-256 for ${fileName}`);
}

/**
 * Converts the TF.js graph model at `modelJsonPath` into `outFile`. With
 * `expectSha256`, the result must have that SHA-256: otherwise nothing is
 * written and a ConversionError says both hashes (the output only ever
 * appears complete and checked).
 */
export function convertModelFolder(modelJsonPath: string, outFile: string, expectSha256?: string): FolderConversion {
  const { json, weights } = readGraphModelFolder(modelJsonPath);
  const bytes = convertGraphModel(json, weights);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expectSha256 !== undefined && expectSha256.toLowerCase() !== sha256) {
    throw new ConversionError(
      `the converted ${basename(outFile)} has SHA-256 ${sha256}, the committed checksum is ${expectSha256.toLowerCase()}: ` +
        'the converter or its input changed; if that was meant, update the checksum (see docs/classifier-engines.md)',
    );
  }
  mkdirSync(dirname(outFile), { recursive: true });
  const tmp = join(dirname(outFile), `.${basename(outFile)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, outFile);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { outFile, sha256, bytes: bytes.byteLength };
}
