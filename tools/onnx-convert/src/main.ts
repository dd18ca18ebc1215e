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
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { convertModelFolder, expectedSha256 } from './lib/convert-folder';
import { ConversionError } from './lib/tf-graph';

const values = parseCommandLine({
  name: 'tsx tools/onnx-convert/src/main.ts',
  summary: 'Converts a TF.js graph model into ONNX (the op types the default model uses), checked against a checksum file when given.',
  flags: {
    model: { type: 'string', value: 'DIR|model.json', description: 'the TF.js graph model', required: true },
    out: { type: 'string', value: 'FILE', description: 'the .onnx file to write', required: true },
    checksums: { type: 'string', value: 'FILE', description: "sha256sum-style file listing the output's name: the result must match it, or nothing is written" },
    'write-checksums': { type: 'string', value: 'FILE', description: 'write that file instead (after a deliberate change of the converter or the model)' },
  },
  epilog: 'Exit 1 when the result does not match --checksums (nothing is written).',
});

runMain('onnx-convert', async () => {
  const model = values.model;
  const out = values.out;
  const modelJson = model.endsWith('.json') ? model : join(model, 'model.json');
  const name = basename(out);
  const expected = values.checksums ? expectedSha256(values.checksums, name) : undefined;
  const started = performance.now();
  let result: ReturnType<typeof convertModelFolder>;
  try {
    result = convertModelFolder(modelJson, out, expected);
  } catch (err) {
    if (!(err instanceof ConversionError)) throw err;
    // A result that differs from the committed checksum is the run's goal failing; any other conversion error is bad input.
    console.error(`onnx-convert: ${err.message}`);
    return expected && /committed checksum/.test(err.message) ? EXIT.goalFailed : EXIT.usage;
  }
  if (values['write-checksums']) writeFileSync(values['write-checksums'], `${result.sha256}  ${name}\n`);
  const checked = expected ? `, matches ${values.checksums}` : '';
  console.log(`${out}: ${result.bytes} bytes, SHA-256 ${result.sha256}${checked} (${Math.round(performance.now() - started)} ms)`);
  return EXIT.done;
});
