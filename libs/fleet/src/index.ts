export * from './lib/fleet';
export * from './lib/ec2-fleet';
export * from './lib/local-process-fleet';
export * from './lib/scaling-policy';
export * from './lib/launch-planner';
export * from './lib/launch-backoff';
export * from './lib/fleet.module';
