import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { CommonModule } from '../common/common.module';
import { WebMetricsModule } from '../ops/metrics.module';
import { OutputConsumer } from '../results/output-consumer';
import { ResultRecheck } from '../results/result-recheck';
import { resultsInboxProvider } from '../results/results-inbox';
import { ResultsController } from '../results/results.controller';
import { ResultsService } from '../results/results.service';
import { ResultsStore } from '../results/results.store';
import { BatchExport } from './batch-export';
import { BatchFinished } from './batch-finished';
import { BatchIndex } from './batch-index';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';
import { WebhookPolicyModule } from '../webhooks/webhook-policy.module';

/**
 * Batches and their results: the batch index, the results this tier knows
 * (fed by the output queue and the output bucket), and the jobs API that
 * reads, lists, exports and deletes them.
 */
@Module({
  imports: [AwsModule, CommonModule, WebMetricsModule, WebhookPolicyModule],
  controllers: [BatchesController, ResultsController],
  providers: [BatchIndex, BatchFinished, BatchExport, BatchesService, ResultsStore, ResultsService, resultsInboxProvider, OutputConsumer, ResultRecheck],
  exports: [BatchIndex, BatchFinished, BatchesService, ResultsStore, ResultsService, OutputConsumer],
})
export class BatchesModule {}
