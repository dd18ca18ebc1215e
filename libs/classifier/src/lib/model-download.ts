import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CHECKSUMS_FILE } from './checksums';
import { ModelDownloadError, ModelIntegrityError } from './errors';
import type { ClassifierLogger } from './logger';
import { METADATA_FILE } from './metadata';
import { readModelJson, safeRelativePath } from './model-files';
import { ONNX_MODEL_FILE } from './engine-choice';
import { checkModelSha256, verifyModel, verifyOnnxModel } from './model-integrity';
import type { ModelSource } from './model-source.types';

const MAX_REDIRECTS = 5;

/**
 * MODEL_URL must be https: a model fetched over plain HTTP (or through a
 * redirect to another origin) can be replaced on the way, and the worker runs
 * whatever graph it loads.
 */
export function checkModelUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ModelDownloadError(url, 'not a URL');
  }
  if (parsed.protocol !== 'https:') {
    throw new ModelDownloadError(url, `MODEL_URL must be an https: URL (got ${parsed.protocol}): a model fetched over plain HTTP can be replaced on the way`);
  }
  if (parsed.username || parsed.password) throw new ModelDownloadError(url, 'MODEL_URL must not carry credentials');
  return parsed;
}

/** A weight file's URL: relative to model.json, on its origin, below its folder. */
export function weightUrl(path: string, modelUrl: URL): URL {
  const rel = safeRelativePath(path, modelUrl.href);
  const url = new URL(rel.split(/[\\/]/).join('/'), modelUrl);
  const folder = modelUrl.pathname.slice(0, modelUrl.pathname.lastIndexOf('/') + 1);
  if (url.origin !== modelUrl.origin || !url.pathname.startsWith(folder)) {
    throw new ModelDownloadError(modelUrl.href, `weight path "${path}" leaves the model's origin or folder (${url.href})`);
  }
  return url;
}

/** GET with redirects followed only within the model's origin. */
async function get(url: URL, origin: string, modelUrl: string, timeoutMs: number): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await fetch(current, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ModelDownloadError(modelUrl, current.href === modelUrl ? reason : `${current.href}: ${reason}`, { cause: err });
    }
    if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
    await res.body?.cancel();
    const location = res.headers.get('location');
    if (!location) throw new ModelDownloadError(modelUrl, `${current.href}: HTTP ${res.status} without a Location`);
    const next = new URL(location, current);
    if (next.origin !== origin) {
      throw new ModelDownloadError(modelUrl, `${current.href} redirects to another origin (${next.origin}): refused`);
    }
    if (hop >= MAX_REDIRECTS) throw new ModelDownloadError(modelUrl, `more than ${MAX_REDIRECTS} redirects`);
    current = next;
  }
}

async function fetchToFile(url: URL, file: string, modelUrl: URL, timeoutMs: number, optional = false): Promise<boolean> {
  const res = await get(url, modelUrl.origin, modelUrl.href, timeoutMs);
  const prefix = url.href === modelUrl.href ? '' : `${url.href}: `;
  if (optional && res.status === 404) {
    await res.body?.cancel();
    return false;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new ModelDownloadError(modelUrl.href, `${prefix}HTTP ${res.status} ${res.statusText}`.trim());
  }
  mkdirSync(dirname(file), { recursive: true });
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(file));
  } catch (err) {
    throw new ModelDownloadError(modelUrl.href, `${prefix}${(err as Error).message}`, { cause: err });
  }
  return true;
}

function nameFromUrl(url: URL): string {
  const parts = url.pathname.split('/').filter(Boolean);
  const last = parts.at(-1) ?? 'model';
  return (/\.(json|onnx)$/.test(last) ? (parts.at(-2) ?? last.replace(/\.(json|onnx)$/, '')) : last).slice(0, 100);
}

/** One cache folder per URL and pin. */
function cacheFolder(cacheDir: string, url: URL, pin: string | undefined): string {
  const key = createHash('sha256').update(`${url.href}\n${pin ?? ''}`).digest('hex').slice(0, 16);
  return resolve(cacheDir, key);
}

/** MODEL_URL names an ONNX model (a .onnx file) rather than a TF.js model.json. */
export function isOnnxUrl(url: string): boolean {
  try {
    return new URL(url).pathname.toLowerCase().endsWith('.onnx');
  } catch {
    return false;
  }
}

export interface DownloadOptions {
  cacheDir: string;
  /** MODEL_SHA256: model.json must have this SHA-256 (checked before any weight is fetched). */
  modelSha256?: string;
  timeoutMs?: number;
}

/**
 * Downloads model.json (https only, redirects only within its origin), checks
 * it against MODEL_SHA256, then fetches its weight files (in manifest order,
 * from the same origin and folder) and metadata.json and SHA256SUMS if served,
 * into `<cacheDir>/<hash of URL and pin>/`. The folder appears only once
 * complete and verified (sizes, hashes, pin); a later start re-verifies it and
 * re-uses it without a request.
 */
export async function downloadModel(url: string, log: ClassifierLogger, options: DownloadOptions): Promise<ModelSource> {
  const modelUrl = checkModelUrl(url);
  const pin = options.modelSha256?.toLowerCase();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = cacheFolder(options.cacheDir, modelUrl, pin);
  const modelJsonPath = join(dir, 'model.json');
  const name = nameFromUrl(modelUrl);
  const what = `MODEL_URL ${url}`;
  const cached = fromCache('tfjs', modelJsonPath, () => verifyModel(modelJsonPath, { modelSha256: pin, what }), { url, dir, name, log });
  if (cached) return cached;
  const started = performance.now();
  const tmp = `${dir}.part-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const tmpJson = join(tmp, 'model.json');
    await fetchToFile(modelUrl, tmpJson, modelUrl, timeoutMs);
    // The pin first: nothing else is fetched for a model.json that is not the pinned one.
    if (pin) checkModelSha256(tmpJson, pin, url);
    const json = readModelJsonOrFail(tmpJson, url);
    const weightUrls = json.weightsManifest.flatMap((g) => g.paths.map((p) => ({ p, url: weightUrl(p, modelUrl) })));
    for (const w of weightUrls) await fetchToFile(w.url, join(tmp, safeRelativePath(w.p, url)), modelUrl, timeoutMs);
    for (const extra of [METADATA_FILE, CHECKSUMS_FILE]) {
      await fetchToFile(new URL(extra, modelUrl), join(tmp, extra), modelUrl, timeoutMs, true).catch((err: unknown) =>
        log.warn({ url, reason: (err as Error).message }, `${extra} could not be downloaded`),
      );
    }
    let verified;
    try {
      verified = verifyModel(tmpJson, { modelSha256: pin, what: url });
    } catch (err) {
      if (err instanceof ModelIntegrityError) throw err;
      throw new ModelDownloadError(url, (err as Error).message, { cause: err });
    }
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same download meanwhile: either copy is good.
      if (!existsSync(modelJsonPath)) throw err;
      rmSync(tmp, { recursive: true, force: true });
    }
    log.info(
      { url, dir, weightBytes: verified.weightBytes, hashedFiles: verified.hashedFiles, pinned: pin !== undefined, ms: Math.round(performance.now() - started) },
      'model downloaded',
    );
    return { engine: 'tfjs', modelPath: modelJsonPath, name, weightBytes: verified.weightBytes, modelSha256: verified.modelSha256, url, cached: false };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function readModelJsonOrFail(path: string, url: string) {
  try {
    return readModelJson(path);
  } catch (err) {
    throw new ModelDownloadError(url, (err as Error).message, { cause: err });
  }
}

/**
 * MODEL_URL of an ONNX model: the .onnx file (https only, redirects within its
 * origin), then metadata.json and SHA256SUMS beside it if served, into
 * `<cacheDir>/<hash of URL and pin>/model.onnx`. The file is one piece, so the
 * pin is checked once it is complete, before the folder appears; a later start
 * re-verifies the cached copy and re-uses it without a request.
 */
export async function downloadOnnxModel(url: string, log: ClassifierLogger, options: DownloadOptions): Promise<ModelSource> {
  const modelUrl = checkModelUrl(url);
  const pin = options.modelSha256?.toLowerCase();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = cacheFolder(options.cacheDir, modelUrl, pin);
  // Kept under its own name, so that a SHA256SUMS served beside it names it as it is.
  const last = modelUrl.pathname.split('/').at(-1) ?? '';
  const fileName = /^[A-Za-z0-9._-]+\.onnx$/i.test(last) ? last : ONNX_MODEL_FILE;
  const modelPath = join(dir, fileName);
  const name = nameFromUrl(modelUrl);
  const what = `MODEL_URL ${url}`;
  const cached = fromCache('onnx', modelPath, () => verifyOnnxModel(modelPath, { modelSha256: pin, what }), { url, dir, name, log });
  if (cached) return cached;
  const started = performance.now();
  const tmp = `${dir}.part-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await fetchToFile(modelUrl, join(tmp, fileName), modelUrl, timeoutMs);
    for (const extra of [METADATA_FILE, CHECKSUMS_FILE]) {
      await fetchToFile(new URL(extra, modelUrl), join(tmp, extra), modelUrl, timeoutMs, true).catch((err: unknown) =>
        log.warn({ url, reason: (err as Error).message }, `${extra} could not be downloaded`),
      );
    }
    const verified = verifyOnnxModel(join(tmp, fileName), { modelSha256: pin, what: url });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      if (!existsSync(modelPath)) throw err;
      rmSync(tmp, { recursive: true, force: true });
    }
    log.info({ url, dir, bytes: verified.weightBytes, pinned: pin !== undefined, ms: Math.round(performance.now() - started) }, 'model downloaded');
    return { engine: 'onnx', modelPath, name, weightBytes: verified.weightBytes, modelSha256: verified.modelSha256, url, cached: false };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A cached download of either engine's model, re-verified: the source when it holds, else undefined
 * (and the folder removed, so that it is downloaded again).
 */
function fromCache(
  engine: 'tfjs' | 'onnx',
  modelPath: string,
  verify: () => { hashedFiles: number; weightBytes: number; modelSha256: string },
  ctx: { url: string; dir: string; name: string; log: ClassifierLogger },
): ModelSource | undefined {
  if (!existsSync(modelPath)) return undefined;
  const { url, dir, name, log } = ctx;
  try {
    const verified = verify();
    log.info({ url, dir, hashedFiles: verified.hashedFiles }, 'model found in the cache');
    return { engine, modelPath, name, weightBytes: verified.weightBytes, modelSha256: verified.modelSha256, url, cached: true };
  } catch (err) {
    log.warn({ url, dir, reason: (err as Error).message }, 'cached model does not verify: downloading it again');
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}
