export * from './lib/fleet';
export * from './lib/ec2-fleet';
export * from './lib/local-process-fleet';
export * from './lib/scaling-policy';
export * from './lib/fleet.module';
