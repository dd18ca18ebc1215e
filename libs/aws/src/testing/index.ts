// Test doubles of S3 and SQS for what the embedded ones never do (see each file).
export * from './faulty-s3';
export * from './faulty-sqs';
