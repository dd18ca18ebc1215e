import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { StatusController } from './status.controller';
import { StatusService } from './status.service';

/** Workers and queue depths, for the page's fleet panel. */
@Module({ imports: [AwsModule], controllers: [StatusController], providers: [StatusService] })
export class StatusModule {}
