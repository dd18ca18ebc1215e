import { AwsClients, AwsResources } from '@app/aws';
import { AppConfig, loadConfig } from '@app/config';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws, type LocalAwsOptions } from '@tools/local-aws';

export interface TestStack {
  aws: LocalAws;
  /** The environment an app process needs, credentials included. */
  env: Record<string, string>;
  config: AppConfig;
  clients: AwsClients;
  resources: AwsResources;
  stop(): Promise<void>;
}

/**
 * The embedded S3/SQS on a free loopback port, with adapters pointed at it.
 * Call in beforeAll and stop() in afterAll.
 */
export async function startTestStack(
  options: LocalAwsOptions = {},
  extraEnv: Record<string, string> = {},
): Promise<TestStack> {
  const aws = await startLocalAws({ port: 0, ...options });
  const env = {
    ...aws.env,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  // The SDK's default credential chain reads these in the test process too.
  process.env['AWS_ACCESS_KEY_ID'] = env.AWS_ACCESS_KEY_ID;
  process.env['AWS_SECRET_ACCESS_KEY'] = env.AWS_SECRET_ACCESS_KEY;
  const config = loadConfig(env);
  const clients = new AwsClients(config);
  const resources = new AwsResources(config, clients);
  return {
    aws,
    env,
    config,
    clients,
    resources,
    async stop() {
      clients.destroy();
      await aws.stop();
    },
  };
}
