import { Command, CommanderError, Option } from 'commander';
import { IMAGE_NAMES, type ImageName } from './catalogue';
import type { EngineChoice } from './engine';

/** Exit codes of both commands. */
export const EXIT = { done: 0, goalFailed: 1, usage: 2 } as const;

export type ParseResult<T> = { kind: 'run'; options: T } | { kind: 'exit'; code: number; output: string };

/** Commander with our exit codes: help 0, any usage error 2, its message one line (on stderr). */
function parse<T>(program: Command, argv: string[], pick: (opts: Record<string, unknown>) => T): ParseResult<T> {
  let output = '';
  program
    .exitOverride()
    .allowExcessArguments(false)
    .configureOutput({ writeOut: (s) => (output += s), writeErr: (s) => (output += s) });
  try {
    program.parse(argv, { from: 'user' });
    return { kind: 'run', options: pick(program.opts()) };
  } catch (err) {
    if (err instanceof CommanderError) {
      const help = err.code === 'commander.helpDisplayed' || err.code === 'commander.help';
      return { kind: 'exit', code: help ? EXIT.done : EXIT.usage, output: help ? output : `${output.trim().split('\n')[0]}\n` };
    }
    if (err instanceof UsageError) return { kind: 'exit', code: EXIT.usage, output: `error: ${err.message}\n` };
    throw err;
  }
}

class UsageError extends Error {}

const engineOption = () =>
  new Option('--engine <engine>', 'docker, buildah, or auto: docker when its engine answers, else buildah').choices(['auto', 'docker', 'buildah']).default('auto');

export interface BuildOptions {
  json?: string;
  engine: EngineChoice;
  only: ImageName[];
  nodeImage?: string;
  offlineBase: boolean;
  workingTree: boolean;
}

export function parseBuildArgs(argv: string[]): ParseResult<BuildOptions> {
  const program = new Command('npm run images --')
    .description(
      'Builds every app image (web-tier, launch-controller, monitor-controller, classifier-worker) and the local edge ' +
        '(ics/local-aws) with docker, or buildah when no docker engine answers. When the pinned base image cannot be ' +
        'pulled, a Node 24 base is assembled offline (debootstrap + Node and npm from the npm registry), cached, and passed as NODE_IMAGE.',
    )
    .option('--json <file>', 'also write the figures (sizes, build times) to this file as JSON')
    .addOption(engineOption())
    .option('--only <names>', `comma-separated subset of: ${IMAGE_NAMES.join(', ')}`)
    .option('--node-image <ref>', 'build on this base image instead (passed as NODE_IMAGE)')
    .option('--offline-base', 'assemble the offline base without trying to pull the pinned one', false)
    .option('--working-tree', 'build the working tree as it is (default: the committed tree, HEAD, as a fresh clone has it)', false);
  return parse(program, argv, (o) => {
    const only = o['only'] === undefined ? [...IMAGE_NAMES] : String(o['only']).split(',').map((s) => s.trim());
    const unknown = only.filter((n) => !(IMAGE_NAMES as readonly string[]).includes(n));
    if (unknown.length) throw new UsageError(`--only: unknown image ${unknown.join(', ')} (images: ${IMAGE_NAMES.join(', ')})`);
    return {
      json: o['json'] as string | undefined,
      engine: o['engine'] as EngineChoice,
      only: IMAGE_NAMES.filter((n) => only.includes(n)),
      nodeImage: o['nodeImage'] as string | undefined,
      offlineBase: o['offlineBase'] === true,
      workingTree: o['workingTree'] === true,
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
  const program = new Command('npm run images:check --')
    .description(
      'Runs the built images as a whole system on the host network (the local edge, web tier and both controllers; ' +
        'the launch controller starts workers through the edge\'s EC2 API), uploads photos through the web tier, waits ' +
        'for their labels, and stops everything it started.',
    )
    .option('--json <file>', 'also write answered, seconds and each image\'s size to this file as JSON')
    .addOption(engineOption())
    .option('--photos <n>', 'how many photos to upload', '5')
    .option('--timeout <seconds>', 'give up waiting for the labels after this long', '300');
  return parse(program, argv, (o) => {
    const photos = Number(o['photos']);
    const timeoutSeconds = Number(o['timeout']);
    if (!Number.isInteger(photos) || photos < 1 || photos > 100) throw new UsageError(`--photos must be a whole number from 1 to 100 (got ${o['photos']})`);
    if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a number of seconds (got ${o['timeout']})`);
    return { json: o['json'] as string | undefined, engine: o['engine'] as EngineChoice, photos, timeoutSeconds };
  });
}
