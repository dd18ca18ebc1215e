import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_ROOT } from '@tools/testing/files';
import { WORKER_UNIT } from './instance-process';

/** The stand-in's instances restart their worker as the real unit does, or what the EC2 path shows here is not what AWS does. */
describe('the worker unit the stand-in follows', () => {
  const unit = readFileSync(join(WORKSPACE_ROOT, 'deploy/systemd/classifier-worker.service'), 'utf8');
  const value = (key: string) => Number(new RegExp(`^${key}=(\\d+)$`, 'm').exec(unit)?.[1]);

  it('restarts a crashed worker after RestartSec and powers off after StartLimitBurst crashes in StartLimitIntervalSec', () => {
    expect({
      restartDelayMs: value('RestartSec') * 1000,
      startLimitBurst: value('StartLimitBurst'),
      startLimitIntervalMs: value('StartLimitIntervalSec') * 1000,
    }).toEqual(WORKER_UNIT);
  });
});
