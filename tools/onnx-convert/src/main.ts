/**
 * `tsx tools/onnx-convert/src/main.ts --model DIR|model.json --out model.onnx [--checksums FILE] [--write-checksums FILE]`
 *
 * Converts a TF.js graph model into ONNX. With --checksums (a sha256sum-style
 * file listing the output's file name), the result must match it, or nothing
 * is written and the command exits 1. --write-checksums writes that file
 * instead (after a deliberate change of the converter or of the model).
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { convertModelFolder, expectedSha256 } from './lib/convert-folder';

function main(): void {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      checksums: { type: 'string' },
      'write-checksums': { type: 'string' },
    },
  });
  if (!values.model || !values.out) throw new Error('usage: --model DIR|model.json --out FILE [--checksums FILE] [--write-checksums FILE]');
  const modelJson = values.model.endsWith('.json') ? values.model : join(values.model, 'model.json');
  const name = basename(values.out);
  const expected = values.checksums ? expectedSha256(values.checksums, name) : undefined;
  const started = performance.now();
  const result = convertModelFolder(modelJson, values.out, expected);
  if (values['write-checksums']) writeFileSync(values['write-checksums'], `${result.sha256}  ${name}\n`);
  const checked = expected ? `, matches ${values.checksums}` : '';
  console.log(`${values.out}: ${result.bytes} bytes, SHA-256 ${result.sha256}${checked} (${Math.round(performance.now() - started)} ms)`);
}

try {
  main();
} catch (err) {
  console.error(`onnx-convert: ${(err as Error).message}`);
  process.exit(1);
}
