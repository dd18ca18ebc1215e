import { Duration, RemovalPolicy, type CfnResource } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RESULT_PREFIX } from '@app/contracts';

/** Where the artifacts and the model go in the artifact bucket (tools/packaging uploads them). */
export const ARTIFACT_PREFIX = 'artifacts/';
export const MODEL_PREFIX = 'models/current/';
/** `Idempotency-Key` records in the output bucket (libs/contracts idempotencyKey); a retry is answered from them for at least 24 h. */
export const IDEMPOTENCY_PREFIX = 'idempotency/';
/** Days an idempotency record is kept: more than the 24 h a client may retry within (S3 expires objects at the next midnight UTC after the age). */
export const IDEMPOTENCY_RETENTION_DAYS = 2;

export interface StorageProps {
  /** Days an uploaded image is kept in the input bucket. */
  inputRetentionDays: number;
  /** Days a result is kept in the output bucket. */
  outputRetentionDays: number;
}

/**
 * Keeps the logical id a stateful resource had before the stack was split into
 * constructs: a new id would make CloudFormation replace it (a new, empty bucket; a
 * named queue cannot even be replaced).
 */
export function keepLogicalId(construct: Construct, logicalId: string): void {
  (construct.node.defaultChild as CfnResource).overrideLogicalId(logicalId);
}

/** The three buckets: private, encrypted, TLS only, and emptied by age. */
export class Storage extends Construct {
  readonly inputBucket: s3.Bucket;
  readonly outputBucket: s3.Bucket;
  readonly artifactBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const privateBucket = (bucketId: string, logicalId: string, extra: Partial<s3.BucketProps>) => {
      const bucket = new s3.Bucket(this, bucketId, {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        // Deleting the stack deletes the bucket only when it is empty (CloudFormation
        // refuses otherwise), so no data goes by accident: the runbook empties it first.
        removalPolicy: RemovalPolicy.DESTROY,
        ...extra,
      });
      keepLogicalId(bucket, logicalId);
      return bucket;
    };
    this.inputBucket = privateBucket('InputBucket', 'InputBucket3BF8630A', {
      lifecycleRules: [
        {
          id: 'expire-uploaded-images',
          expiration: Duration.days(props.inputRetentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    this.outputBucket = privateBucket('OutputBucket', 'OutputBucket7114EB27', {
      lifecycleRules: [
        {
          id: 'expire-results',
          expiration: Duration.days(props.outputRetentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          id: 'expire-idempotency-records',
          prefix: IDEMPOTENCY_PREFIX,
          expiration: Duration.days(IDEMPOTENCY_RETENTION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    // An answer is written once: under results/ a write must be a conditional create
    // (If-None-Match), whoever sends it. The first result written stays the answer even if
    // a worker (which decodes untrusted bytes) is taken over: it cannot overwrite, only race.
    // No multipart exemption: results are single small PUTs.
    this.outputBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ResultsAreWrittenOnce',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.outputBucket.arnForObjects(`${RESULT_PREFIX}*`)],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
    this.artifactBucket = privateBucket('ArtifactBucket', 'ArtifactBucket7410C9EF', {
      versioned: true,
      lifecycleRules: [
        {
          id: 'expire-old-artifacts',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
  }
}
