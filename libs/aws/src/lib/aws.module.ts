import { Module } from '@nestjs/common';
import { AwsClients } from './clients';
import { AwsResources } from './aws-resources';

/** AWS clients and the project's bucket and queue adapters. Needs AppConfigModule. */
@Module({
  providers: [AwsClients, AwsResources],
  exports: [AwsClients, AwsResources],
})
export class AwsModule {}
