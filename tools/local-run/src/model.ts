import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The pretrained model `npm start` uses when neither MODEL_DIR nor MODEL_URL is set (MobileNet V1 0.25, TF.js graph model). */
export const DEFAULT_MODEL_URL =
  'https://tfhub.dev/google/tfjs-model/imagenet/mobilenet_v1_025_224/classification/3/default/1/model.json?tfjs-format=file';
const DEV_MODEL_DIR = '../shared/models/mobilenet_v1_025_224';

export interface ResolvedModel {
  env: Record<string, string>;
  description: string;
}

/**
 * MODEL_DIR or MODEL_URL when set; otherwise the default pretrained model,
 * which must be reachable (the workers download it once into MODEL_CACHE_DIR).
 */
export async function resolveModel(env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<ResolvedModel> {
  const dir = env['MODEL_DIR'];
  if (dir) {
    const abs = resolve(dir);
    if (!existsSync(join(abs, 'model.json'))) throw new Error(`MODEL_DIR=${dir}: there is no model.json in ${abs}`);
    return { env: { MODEL_DIR: abs }, description: `MODEL_DIR=${abs}` };
  }
  const url = env['MODEL_URL'];
  if (url) return { env: { MODEL_URL: url }, description: `MODEL_URL=${url}` };
  // MODEL_DEFAULT_URL replaces the default (a mirror, or a test of the offline path).
  const defaultUrl = env['MODEL_DEFAULT_URL'] ?? DEFAULT_MODEL_URL;
  try {
    const res = await fetch(defaultUrl, { method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    await res.body?.cancel();
  } catch (err) {
    throw new Error(
      `no model: MODEL_DIR and MODEL_URL are unset and the default model cannot be downloaded ` +
        `(${defaultUrl}: ${(err as Error).message}).\n` +
        `Set MODEL_DIR to a TF.js model folder, e.g. in this repository's development set-up:\n\n` +
        `  MODEL_DIR=${DEV_MODEL_DIR} npm start\n`,
    );
  }
  return { env: { MODEL_URL: defaultUrl }, description: `default ${defaultUrl}` };
}
