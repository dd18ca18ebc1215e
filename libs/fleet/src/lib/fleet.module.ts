import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AwsClients, AwsModule } from '@app/aws';
import { AppConfig } from '@app/config';
import { Ec2Fleet } from './ec2-fleet';
import { Fleet } from './fleet';
import { LocalProcessFleet } from './local-process-fleet';

/** Builds the provider FLEET_PROVIDER names, and stops local workers on shutdown. */
@Injectable()
export class FleetLifecycle implements OnApplicationShutdown {
  constructor(private readonly fleet: Fleet) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.fleet instanceof LocalProcessFleet) await this.fleet.shutdown();
  }
}

export function createFleet(config: AppConfig, clients: AwsClients, env: NodeJS.ProcessEnv = process.env): Fleet {
  const s = config.scaling;
  if (s.provider === 'ec2') return new Ec2Fleet(clients.ec2, s);
  return new LocalProcessFleet({
    workerMain: s.workerMain,
    env,
    stateDir: s.fleetStateDir,
    killGraceMs: s.workerKillGraceMs,
    nice: s.workerNice,
  });
}

@Module({
  imports: [AwsModule],
  providers: [
    { provide: Fleet, inject: [AppConfig, AwsClients], useFactory: (c: AppConfig, a: AwsClients) => createFleet(c, a) },
    FleetLifecycle,
  ],
  exports: [Fleet],
})
export class FleetModule {}
