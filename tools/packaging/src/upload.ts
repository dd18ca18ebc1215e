import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { ObjectStore } from '@app/aws';
import { APPS, CONTROL_APPS, WORKER_APP, WORKSPACE_ROOT } from './lib/artifacts';

/**
 * `nx deploy packaging` (after `nx deploy infra`): uploads the model and the four
 * app tarballs to the stack's artifact bucket, where worker user data, the AMI bake
 * and the control host's `ics-install` take them from. Credentials and region come
 * from the AWS SDK's default chain (AWS_PROFILE, AWS_REGION, ...).
 *
 *   ICS_OUTPUTS_FILE   stack outputs from `nx deploy infra` (default dist/infra/outputs.json)
 *   ICS_STACK_NAME     which stack's outputs (default: the only one in the file)
 *   ICS_MODEL_SOURCE   a TF.js model folder to upload to models/current/, which workers then run
 *                      instead of the model their artifact ships (default `none`: the artifact's);
 *                      leave it `none` when the stack has a ModelUrl
 */
export const ARTIFACT_PREFIX = 'artifacts/';
export const MODEL_PREFIX = 'models/current/';

export interface Uploaded {
  key: string;
  bytes: number;
}

/** The artifact bucket's name from `cdk deploy --outputs-file` JSON ({ stack: { Output: value } }). */
export function artifactBucketFrom(outputs: Record<string, Record<string, string>>, stackName?: string): string {
  const stacks = Object.keys(outputs);
  const stack = stackName ?? (stacks.length === 1 ? stacks[0] : undefined);
  if (!stack) throw new Error(`outputs name ${stacks.length} stacks (${stacks.join(', ')}): set ICS_STACK_NAME`);
  const bucket = outputs[stack]?.['ArtifactBucketName'];
  if (!bucket) throw new Error(`no ArtifactBucketName output for stack ${stack}: run "npx nx deploy infra" first`);
  return bucket;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/**
 * Model first, then the worker, then the control host's apps: a control host that
 * is waiting for its tarballs starts only once everything a worker needs is there.
 */
export async function uploadArtifacts(
  store: ObjectStore,
  options: { packagesDir: string; modelDir?: string },
): Promise<Uploaded[]> {
  const uploaded: Uploaded[] = [];
  const put = async (key: string, file: string, contentType: string) => {
    const body = readFileSync(file);
    await store.put(key, body, { contentType });
    uploaded.push({ key, bytes: body.length });
  };
  for (const app of APPS) {
    const file = join(options.packagesDir, `${app}.tar.gz`);
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) {
      throw new Error(`${file} is missing: run "npx nx build packaging" first`);
    }
  }
  if (options.modelDir) {
    const files = filesUnder(options.modelDir);
    if (!files.some((f) => relative(options.modelDir as string, f) === 'model.json')) {
      throw new Error(`${options.modelDir} has no model.json: not a TF.js model folder`);
    }
    for (const file of files.sort()) {
      const rel = relative(options.modelDir, file).split('\\').join('/');
      await put(`${MODEL_PREFIX}${rel}`, file, rel.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    }
  }
  for (const app of [WORKER_APP, ...CONTROL_APPS]) {
    await put(`${ARTIFACT_PREFIX}${app}.tar.gz`, join(options.packagesDir, `${app}.tar.gz`), 'application/gzip');
  }
  return uploaded;
}

async function main(): Promise<void> {
  const outputsFile = resolve(process.env['ICS_OUTPUTS_FILE'] ?? join(WORKSPACE_ROOT, 'dist/infra/outputs.json'));
  const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>;
  const bucket = artifactBucketFrom(outputs, process.env['ICS_STACK_NAME']);
  const modelSource = process.env['ICS_MODEL_SOURCE'] ?? 'none';
  const s3 = new S3Client({});
  try {
    const uploaded = await uploadArtifacts(new ObjectStore(s3, bucket), {
      packagesDir: join(WORKSPACE_ROOT, 'dist/packages'),
      modelDir: modelSource === 'none' ? undefined : resolve(modelSource),
    });
    for (const u of uploaded) console.log(`s3://${bucket}/${u.key}  ${u.bytes} bytes`);
  } finally {
    s3.destroy();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`upload: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
