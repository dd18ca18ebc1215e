export * from './lib/ec2-standin';
export type { Ec2Faults } from './lib/faults';
export type { ApiCall } from './lib/ec2-api';
export type { InstanceView, InstanceStateName } from './lib/instances';
export type { LaunchTemplate, LaunchTemplateConfig, LaunchTemplateData } from './lib/launch-templates';
export * from './lib/describe-all';
