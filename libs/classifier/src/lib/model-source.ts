import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelDownloadError, ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import { METADATA_FILE } from './metadata';
import { modelJsonPathOf, readModelJson, safeRelativePath, verifyWeightFiles } from './model-files';

export interface ModelSourceOptions {
  /** A model folder (model.json + weights), or the model.json itself. */
  modelDir?: string;
  /** An http(s) URL of a model.json; weights are fetched relative to it. */
  modelUrl?: string;
  /** Where downloaded models are kept, one folder per URL. */
  cacheDir?: string;
  /** Per request, milliseconds. */
  timeoutMs?: number;
}

export interface ModelSource {
  modelJsonPath: string;
  /** A short name for results and logs: the model's folder name (or the URL's). */
  name: string;
  /** Bytes of weights, verified against the manifest. */
  weightBytes: number;
  url?: string;
  /** True when the model came from the cache without a download. */
  cached?: boolean;
}

/** Resolves MODEL_DIR, or downloads MODEL_URL once into the cache; either way verified. */
export async function resolveModelSource(options: ModelSourceOptions, log: ClassifierLogger): Promise<ModelSource> {
  if (options.modelDir) {
    if (options.modelUrl) log.warn({ modelUrl: options.modelUrl }, 'MODEL_DIR is set: MODEL_URL is ignored');
    const modelJsonPath = resolve(modelJsonPathOf(options.modelDir));
    if (!existsSync(modelJsonPath)) throw new ModelLoadError(`MODEL_DIR: ${modelJsonPath} does not exist`);
    const weightBytes = verifyWeightFiles(modelJsonPath, readModelJson(modelJsonPath));
    return { modelJsonPath, name: basename(dirname(modelJsonPath)), weightBytes };
  }
  if (options.modelUrl) return downloadModel(options.modelUrl, options.cacheDir ?? '.model-cache', log, options.timeoutMs);
  throw new ModelLoadError('no model: set MODEL_DIR (a TF.js model folder) or MODEL_URL (an http(s) URL of a model.json)');
}

function nameFromUrl(url: string): string {
  const parts = new URL(url).pathname.split('/').filter(Boolean);
  const last = parts.at(-1) ?? 'model';
  return (last.endsWith('.json') ? (parts.at(-2) ?? last.replace(/\.json$/, '')) : last).slice(0, 100);
}

async function fetchToFile(url: string, file: string, modelUrl: string, timeoutMs: number, optional = false): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ModelDownloadError(modelUrl, url === modelUrl ? reason : `${url}: ${reason}`, { cause: err });
  }
  if (optional && res.status === 404) return false;
  if (!res.ok || !res.body) {
    throw new ModelDownloadError(modelUrl, `${url === modelUrl ? '' : `${url}: `}HTTP ${res.status} ${res.statusText}`.trim());
  }
  mkdirSync(dirname(file), { recursive: true });
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(file));
  } catch (err) {
    throw new ModelDownloadError(modelUrl, `${url}: ${(err as Error).message}`, { cause: err });
  }
  return true;
}

/**
 * Downloads model.json, its weight files (in manifest order, relative to the
 * URL) and metadata.json if there is one into `<cacheDir>/<hash of URL>/`.
 * The folder appears only once complete and verified against the manifest's
 * byte sizes; a later start re-uses it without a request.
 */
export async function downloadModel(
  url: string,
  cacheDir: string,
  log: ClassifierLogger,
  timeoutMs = 60_000,
): Promise<ModelSource> {
  if (!/^https?:\/\//i.test(url)) throw new ModelDownloadError(url, 'only http and https URLs are supported');
  const dir = resolve(cacheDir, createHash('sha256').update(url).digest('hex').slice(0, 16));
  const modelJsonPath = join(dir, 'model.json');
  const name = nameFromUrl(url);
  if (existsSync(modelJsonPath)) {
    try {
      const weightBytes = verifyWeightFiles(modelJsonPath, readModelJson(modelJsonPath));
      log.info({ url, dir }, 'model found in the cache');
      return { modelJsonPath, name, weightBytes, url, cached: true };
    } catch (err) {
      log.warn({ url, dir, reason: (err as Error).message }, 'cached model is incomplete: downloading it again');
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const started = performance.now();
  const tmp = `${dir}.part-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const tmpJson = join(tmp, 'model.json');
    await fetchToFile(url, tmpJson, url, timeoutMs);
    let json;
    try {
      json = readModelJson(tmpJson);
    } catch (err) {
      throw new ModelDownloadError(url, (err as Error).message, { cause: err });
    }
    for (const group of json.weightsManifest) {
      for (const p of group.paths) {
        await fetchToFile(new URL(p, url).href, join(tmp, safeRelativePath(p, url)), url, timeoutMs);
      }
    }
    await fetchToFile(new URL(METADATA_FILE, url).href, join(tmp, METADATA_FILE), url, timeoutMs, true).catch(
      (err: unknown) => log.warn({ url, reason: (err as Error).message }, 'metadata.json could not be downloaded'),
    );
    let weightBytes: number;
    try {
      weightBytes = verifyWeightFiles(tmpJson, json);
    } catch (err) {
      throw new ModelDownloadError(url, (err as Error).message, { cause: err });
    }
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same download meanwhile: either copy is good.
      if (!existsSync(modelJsonPath)) throw err;
      rmSync(tmp, { recursive: true, force: true });
    }
    log.info({ url, dir, weightBytes, ms: Math.round(performance.now() - started) }, 'model downloaded');
    return { modelJsonPath, name, weightBytes, url, cached: false };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
