import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { ObjectStore } from '@app/aws';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from '@tools/local-aws';
import { APPS } from './lib/artifacts';
import { artifactBucketFrom, uploadArtifacts } from './upload';

describe('uploadArtifacts (embedded S3)', () => {
  let aws: LocalAws;
  let s3: S3Client;
  let store: ObjectStore;
  let dir: string;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0, outputBucket: 'ics-artifacts-test' });
    s3 = new S3Client({
      region: 'us-east-1',
      endpoint: aws.endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    store = new ObjectStore(s3, 'ics-artifacts-test');
    dir = mkdtempSync(join(tmpdir(), 'upload-'));
    mkdirSync(join(dir, 'packages'));
    for (const app of APPS) writeFileSync(join(dir, 'packages', `${app}.tar.gz`), `tarball of ${app}`);
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'model', 'model.json'), '{"format":"graph-model"}');
    writeFileSync(join(dir, 'model', 'group1-shard1of1.bin'), Buffer.from([0, 1, 2, 255]));
  });
  afterAll(async () => {
    s3?.destroy();
    await aws?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts the model, then the worker, then the control host apps where the hosts look for them', async () => {
    const uploaded = await uploadArtifacts(store, { packagesDir: join(dir, 'packages'), modelDir: join(dir, 'model') });
    expect(uploaded.map((u) => u.key)).toEqual([
      'models/current/group1-shard1of1.bin',
      'models/current/model.json',
      'artifacts/classifier-worker.tar.gz',
      'artifacts/web-tier.tar.gz',
      'artifacts/launch-controller.tar.gz',
      'artifacts/monitor-controller.tar.gz',
    ]);
    expect((await store.getBuffer('artifacts/web-tier.tar.gz')).toString()).toBe('tarball of web-tier');
    expect([...(await store.getBuffer('models/current/group1-shard1of1.bin'))]).toEqual([0, 1, 2, 255]);
  });

  it('refuses a model folder without model.json, before uploading anything', async () => {
    const empty = join(dir, 'not-a-model');
    mkdirSync(empty);
    writeFileSync(join(empty, 'weights.bin'), 'x');
    await expect(uploadArtifacts(store, { packagesDir: join(dir, 'packages'), modelDir: empty })).rejects.toThrow(
      `${empty} has no model.json: not a TF.js model folder`,
    );
  });

  it('refuses when a tarball is missing', async () => {
    await expect(uploadArtifacts(store, { packagesDir: join(dir, 'nowhere') })).rejects.toThrow(
      /web-tier\.tar\.gz is missing: run "npx nx build packaging" first/,
    );
  });
});

describe('artifactBucketFrom', () => {
  it('reads the bucket from cdk deploy --outputs-file', () => {
    expect(artifactBucketFrom({ ics: { ArtifactBucketName: 'ics-artifactbucket-1' } })).toBe('ics-artifactbucket-1');
    expect(artifactBucketFrom({ a: { ArtifactBucketName: 'x' }, b: { ArtifactBucketName: 'y' } }, 'b')).toBe('y');
  });
  it('says what to do when it cannot tell', () => {
    expect(() => artifactBucketFrom({ a: {}, b: {} })).toThrow('outputs name 2 stacks (a, b): set ICS_STACK_NAME');
    expect(() => artifactBucketFrom({ ics: {} })).toThrow('no ArtifactBucketName output for stack ics: run "npx nx deploy infra" first');
  });
});
