export * from './lib/logging.module';
export * from './lib/bootstrap';
export * from './lib/metrics.module';
export * from './lib/ssm-config';
// Test support (an SSM test double speaking the real protocol), for the deployment tests of tools/.
export * from './lib/testing/ssm-double';
