import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelIntegrityError, ModelLoadError } from './errors';
import { verifyOnnxModel } from './model-integrity';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('verifyOnnxModel', () => {
  let dir: string;
  const bytes = randomBytes(4096);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'onnx-integrity-'));
    writeFileSync(join(dir, 'model.onnx'), bytes);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the file its SHA256SUMS lists, and gives its SHA-256', () => {
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha256(bytes)}  model.onnx\n`);
    expect(verifyOnnxModel(join(dir, 'model.onnx'), { requireChecksums: true })).toEqual({ weightBytes: 4096, modelSha256: sha256(bytes), hashedFiles: 1 });
  });

  it('refuses a file that is not the one SHA256SUMS lists, naming it', () => {
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha256(Buffer.from('another model'))}  model.onnx\n`);
    expect(() => verifyOnnxModel(join(dir, 'model.onnx'), { requireChecksums: true, what: 'the default model' })).toThrow(ModelIntegrityError);
    expect(() => verifyOnnxModel(join(dir, 'model.onnx'), { requireChecksums: true, what: 'the default model' })).toThrow(/the default model: .*model\.onnx has SHA-256 [0-9a-f]{64}, expected/);
  });

  it('still hashes the other files SHA256SUMS lists', () => {
    writeFileSync(join(dir, 'metadata.json'), '{"inputSize": 224}');
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha256(bytes)}  model.onnx\n${sha256(Buffer.from('{}'))}  metadata.json\n`);
    expect(() => verifyOnnxModel(join(dir, 'model.onnx'), { requireChecksums: true })).toThrow(/metadata\.json has SHA-256/);
  });

  it('refuses a file SHA256SUMS does not list when checksums are required', () => {
    writeFileSync(join(dir, 'SHA256SUMS'), '');
    expect(() => verifyOnnxModel(join(dir, 'model.onnx'), { requireChecksums: true })).toThrow(ModelLoadError);
  });
});
