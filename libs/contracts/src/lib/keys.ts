/**
 * The S3 key layout, in one place. Keys are made by the server from ids,
 * never from a user's file name.
 */
export const IMAGE_EXTENSIONS = ['jpg', 'png', 'webp', 'gif'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

export const CONTENT_TYPES: Record<ImageExtension, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
};

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const UUID_PATTERN = new RegExp(`^${UUID}$`);
export const INPUT_KEY_PATTERN = new RegExp(
  `^(${UUID})/(${UUID})\\.(${IMAGE_EXTENSIONS.join('|')})$`,
);

/** Input bucket: `<batchId>/<imageId>.<ext>`. */
export function inputKey(batchId: string, imageId: string, ext: ImageExtension): string {
  return `${batchId}/${imageId}.${ext}`;
}

/** Output bucket: `<imageId>.json` (the image id alone makes a redo idempotent). */
export function resultKey(imageId: string): string {
  return `${imageId}.json`;
}

/**
 * Output bucket: the monitor controller's record of the latest attempt it
 * queued for an image, so a late or duplicate monitor message for an older
 * attempt is recognised as superseded.
 */
export function attemptKey(imageId: string): string {
  return `attempts/${imageId}.json`;
}

/**
 * Output bucket: written (empty) once the result's output message is sent. A
 * result without it was never announced (its writer died in between): whoever
 * finds it announces it.
 */
export function announcedKey(imageId: string): string {
  return `announced/${imageId}`;
}

/** Output bucket: a worker's heartbeat (see Heartbeat). */
export function heartbeatKey(workerId: string): string {
  return `heartbeats/${workerId}.json`;
}

export function parseInputKey(
  key: string,
): { batchId: string; imageId: string; ext: ImageExtension } | undefined {
  const m = INPUT_KEY_PATTERN.exec(key);
  return m ? { batchId: m[1], imageId: m[2], ext: m[3] as ImageExtension } : undefined;
}

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
