import { SNSClient } from '@aws-sdk/client-sns';
import { Topic } from '@app/aws';
import { LOCAL_CREDENTIALS, type LocalAws } from '@tools/local-aws';

/** The results topic's name on the local edge. */
export const OUTPUT_TOPIC_NAME = 'ics-results';

/**
 * Creates the results topic on the local edge (as the stack does on AWS) and
 * returns its ARN, for OUTPUT_TOPIC_ARN: workers and the monitor publish
 * results to it, and each web tier hears them on a queue of its own.
 */
export async function createOutputTopic(aws: Pick<LocalAws, 'endpoint' | 'env'>): Promise<string> {
  const sns = new SNSClient({ region: aws.env['AWS_REGION'] ?? 'us-east-1', endpoint: aws.endpoint, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 });
  try {
    return (await Topic.create(sns, OUTPUT_TOPIC_NAME)).arn;
  } finally {
    sns.destroy();
  }
}
