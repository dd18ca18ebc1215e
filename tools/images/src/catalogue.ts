import { join } from 'node:path';
import { WORKSPACE_ROOT } from '@tools/testing/files';

export { WORKSPACE_ROOT };
/** Logs, the offline base's assembly and check runs: gitignored, outside every image's build context. */
export const WORK_DIR = join(WORKSPACE_ROOT, 'tmp/images');

/** The images `npm run images` builds, in build order: the edge last, as it reuses the worker's layers. */
export const IMAGE_NAMES = ['web-tier', 'launch-controller', 'monitor-controller', 'classifier-worker', 'local-aws'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

export interface ImageSpec {
  name: ImageName;
  /** The tag compose uses too (docker/compose.yaml). */
  tag: string;
  dockerfile: string;
  ignoreFile: string;
}

/** `root`: the build context holding docker/ (the repository, or a snapshot of it). */
export function imageSpec(name: ImageName, root = WORKSPACE_ROOT): ImageSpec {
  const dockerfile = join(root, 'docker', `${name}.Dockerfile`);
  return { name, tag: `ics/${name}:local`, dockerfile, ignoreFile: `${dockerfile}.dockerignore` };
}

/** The base every Dockerfile builds FROM unless told otherwise: its `ARG NODE_IMAGE=` default. */
export function defaultNodeImage(dockerfileText: string): string {
  const m = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfileText);
  if (!m) throw new Error('the Dockerfile has no ARG NODE_IMAGE=<image> default');
  return m[1];
}

export function formatBytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}
