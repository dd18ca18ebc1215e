/** Every error the classifier raises. `permanent`: retrying the same input cannot help. */
export abstract class ClassifierError extends Error {
  abstract readonly permanent: boolean;
}

export type ImageErrorCode = 'empty' | 'too-large' | 'unsupported-format' | 'too-many-pixels' | 'undecodable';

/**
 * The bytes are not an image the classifier can read: empty, too big, not
 * JPEG/PNG/WebP/GIF, a decompression bomb, or corrupt. Permanent: report it
 * to the user at once, do not retry.
 */
export class ImageDecodeError extends ClassifierError {
  override readonly name = 'ImageDecodeError';
  readonly permanent = true;
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The model cannot be found, read or understood (a start-up error). */
export class ModelLoadError extends ClassifierError {
  override readonly name: string = 'ModelLoadError';
  readonly permanent = false;
}

/** MODEL_URL (or one of its weight files) could not be downloaded or did not verify. */
export class ModelDownloadError extends ModelLoadError {
  override readonly name = 'ModelDownloadError';
  constructor(
    readonly url: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot download the model from ${url}: ${reason}`, options);
  }
}

/** The model's files are not the ones pinned (MODEL_SHA256, SHA256SUMS): never loaded. */
export class ModelIntegrityError extends ModelLoadError {
  override readonly name = 'ModelIntegrityError';
}

/** The inference engine failed (e.g. its thread died); not the image's fault. */
export class InferenceError extends ClassifierError {
  override readonly name = 'InferenceError';
  readonly permanent = false;
}
