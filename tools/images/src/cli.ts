import { EXIT, tryParseCommandLine, type CliSpec, type FlagSpec } from '@app/command-line';
import { IMAGE_NAMES, type ImageName } from './catalogue';
import type { EngineChoice } from './engine';

/** Exit codes of both commands: the shared ones. */
export { EXIT };

export type ParseResult<T> = { kind: 'run'; options: T } | { kind: 'exit'; code: number; output: string };

/** The shared command line; `output` is the help (exit 0) or the one-line refusal (exit 2). */
function parse<const F extends Record<string, FlagSpec>, T>(
  spec: CliSpec<F>,
  argv: string[],
  pick: (values: Record<string, string | boolean | undefined>) => T | string,
): ParseResult<T> {
  const outcome = tryParseCommandLine(spec, argv);
  if (outcome.kind === 'exit') return { kind: 'exit', code: outcome.code, output: outcome.code === EXIT.done ? outcome.stdout : outcome.stderr };
  const picked = pick(outcome.values as Record<string, string | boolean | undefined>);
  // A string is a refusal of a value the flags alone cannot judge.
  return typeof picked === 'string' ? { kind: 'exit', code: EXIT.usage, output: `${spec.name}: ${picked}\n` } : { kind: 'run', options: picked };
}

const engineFlag = {
  type: 'string',
  description: 'docker, buildah, or auto: docker when its engine answers, else buildah',
  default: 'auto',
  choices: ['auto', 'docker', 'buildah'],
} as const satisfies FlagSpec;

export interface BuildOptions {
  json?: string;
  engine: EngineChoice;
  only: ImageName[];
  nodeImage?: string;
  offlineBase: boolean;
  workingTree: boolean;
}

export function parseBuildArgs(argv: string[]): ParseResult<BuildOptions> {
  const spec = {
    name: 'npm run images --',
    summary:
      'Builds every app image (web-tier, launch-controller, monitor-controller, classifier-worker) and the local edge ' +
      '(ics/local-aws) with docker, or buildah when no docker engine answers. When the pinned base image cannot be ' +
      'pulled, a Node 24 base is assembled offline (debootstrap + Node and npm from the npm registry), cached, and passed as NODE_IMAGE.',
    flags: {
      json: { type: 'string', value: 'OUT', description: 'also write the figures (sizes, build times) to this file as JSON' },
      engine: engineFlag,
      only: { type: 'string', value: 'NAMES', description: `comma-separated subset of: ${IMAGE_NAMES.join(', ')}` },
      'node-image': { type: 'string', value: 'REF', description: 'build on this base image instead (passed as NODE_IMAGE)' },
      'offline-base': { type: 'boolean', description: 'assemble the offline base without trying to pull the pinned one' },
      'working-tree': { type: 'boolean', description: 'build the working tree as it is (default: the committed tree, HEAD, as a fresh clone has it)' },
    },
    epilog: 'Exit 1 when an image did not build or the worker image is over its size budget.',
  } as const;
  return parse(spec, argv, (o) => {
    const only = o['only'] === undefined ? [...IMAGE_NAMES] : String(o['only']).split(',').map((s) => s.trim());
    const unknown = only.filter((n) => !(IMAGE_NAMES as readonly string[]).includes(n));
    if (unknown.length) return `--only: unknown image ${unknown.join(', ')} (images: ${IMAGE_NAMES.join(', ')})`;
    return {
      json: o['json'] as string | undefined,
      engine: o['engine'] as EngineChoice,
      only: IMAGE_NAMES.filter((n) => only.includes(n)) as ImageName[],
      nodeImage: o['node-image'] as string | undefined,
      offlineBase: o['offline-base'] === true,
      workingTree: o['working-tree'] === true,
    };
  });
}

export interface CheckOptions {
  json?: string;
  engine: EngineChoice;
  photos: number;
  timeoutSeconds: number;
}

export function parseCheckArgs(argv: string[]): ParseResult<CheckOptions> {
  const spec = {
    name: 'npm run images:check --',
    summary:
      'Runs the built images as a whole system on the host network (the local edge, web tier and both controllers; ' +
      "the launch controller starts workers through the edge's EC2 API), uploads photos through the web tier, waits " +
      'for their labels, and stops everything it started.',
    flags: {
      json: { type: 'string', value: 'OUT', description: "also write answered, seconds and each image's size to this file as JSON" },
      engine: engineFlag,
      photos: { type: 'string', description: 'how many photos to upload', default: '5', number: { integer: true, min: 1, max: 100 } },
      timeout: { type: 'string', value: 'SECONDS', description: 'give up waiting for the labels after this long', default: '300', number: { min: 0.001 } },
    },
    epilog: 'Exit 1 when a photo got no label or something was left running.',
  } as const;
  return parse(spec, argv, (o) => ({ json: o['json'] as string | undefined, engine: o['engine'] as EngineChoice, photos: Number(o['photos']), timeoutSeconds: Number(o['timeout']) }));
}
