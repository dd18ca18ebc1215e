import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class PredictionDto {
  @ApiProperty({ example: 'tabby, tabby cat' }) label!: string;
  @ApiProperty({ example: 281 }) classIndex!: number;
  @ApiProperty({ example: 0.62, minimum: 0, maximum: 1 }) confidence!: number;
}

export class ResultErrorDto {
  @ApiProperty({ example: 'the image could not be decoded' }) reason!: string;
  @ApiProperty({ description: 'True when retrying cannot help; false for a give-up after retries' }) permanent!: boolean;
}

export class TimingsDto {
  @ApiPropertyOptional() queueMs?: number;
  @ApiPropertyOptional() downloadMs?: number;
  @ApiPropertyOptional() decodeMs?: number;
  @ApiPropertyOptional() inferenceMs?: number;
  @ApiPropertyOptional() totalMs?: number;
}

export class ImageResultDto {
  @ApiProperty({ format: 'uuid' }) imageId!: string;
  @ApiProperty({ format: 'uuid' }) batchId!: string;
  @ApiProperty({ example: 'cat.jpg', description: 'The file name as uploaded (shown only; never used as a key)' }) fileName!: string;
  @ApiProperty({ enum: ['queued', 'done', 'error'] }) status!: 'queued' | 'done' | 'error';
  @ApiPropertyOptional({ description: 'Presigned URL of the stored image' }) url?: string;
  @ApiPropertyOptional({ example: 'tabby, tabby cat' }) label?: string;
  @ApiPropertyOptional({ minimum: 0, maximum: 1 }) confidence?: number;
  @ApiPropertyOptional({ type: [PredictionDto] }) top5?: PredictionDto[];
  @ApiPropertyOptional({ description: 'Which try produced the result (1 = first)' }) attempts?: number;
  @ApiPropertyOptional({ description: 'Worker id, or monitor-controller for a give-up' }) producedBy?: string;
  @ApiPropertyOptional({ format: 'date-time' }) completedAt?: string;
  @ApiPropertyOptional({ type: TimingsDto }) timings?: TimingsDto;
  @ApiPropertyOptional({ type: ResultErrorDto }) error?: ResultErrorDto;
}

export class BatchSummaryDto {
  @ApiProperty({ format: 'uuid' }) batchId!: string;
  @ApiPropertyOptional({ maxLength: 200, description: 'The label given when the batch was created' }) label?: string;
  @ApiPropertyOptional({ format: 'uri', description: 'Where the batch is announced when it finishes (stored; not yet called)' }) callbackUrl?: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ description: 'True once no more images can be added (a batch made by POST /api/images is closed at once)' }) closed!: boolean;
  @ApiProperty({ description: 'Images in the batch' }) total!: number;
  @ApiProperty({ description: 'Images with a label' }) done!: number;
  @ApiProperty({ description: 'Images that ended in an error' }) failed!: number;
  @ApiProperty({ description: 'Images still waiting for a result' }) queued!: number;
  @ApiProperty({ description: 'True when the batch is closed and every image has a result' }) finished!: boolean;
}

export class BatchDto extends BatchSummaryDto {
  @ApiProperty({ type: [ImageResultDto] }) images!: ImageResultDto[];
}

export class UploadedImageDto {
  @ApiProperty({ format: 'uuid' }) imageId!: string;
  @ApiProperty({ example: 'cat.jpg' }) fileName!: string;
  @ApiProperty({ enum: ['queued'] }) status!: 'queued';
  @ApiProperty({ description: 'Presigned URL of the stored image' }) url!: string;
}

export class FailedFileDto {
  @ApiProperty({ example: 'dog.png' }) fileName!: string;
  @ApiProperty({ example: 'sqs.SendMessageBatch: UnreachableError' }) reason!: string;
  @ApiProperty({ description: 'False when its stored image could not be removed again' }) cleanedUp!: boolean;
}

export class UploadResponseDto {
  @ApiProperty({ format: 'uuid' }) batchId!: string;
  @ApiProperty({ type: [UploadedImageDto] }) images!: UploadedImageDto[];
  @ApiPropertyOptional({ type: [FailedFileDto], description: 'Files not accepted because storage or the queue failed (partial success only)' })
  failed?: FailedFileDto[];
}

export class ErrorDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({ example: 'no files: send one or more images in the multipart field "images"' }) message!: string;
}

export class QueueDepthDto {
  @ApiProperty() visible!: number;
  @ApiProperty() inFlight!: number;
  @ApiProperty() delayed!: number;
}

export class WorkersDto {
  @ApiProperty() running!: number;
  @ApiProperty() free!: number;
  @ApiProperty() pending!: number;
}

export class QueuesDto {
  @ApiProperty({ type: QueueDepthDto, nullable: true }) launch!: QueueDepthDto | null;
  @ApiProperty({ type: QueueDepthDto, nullable: true }) monitor!: QueueDepthDto | null;
  @ApiProperty({ type: QueueDepthDto, nullable: true }) output!: QueueDepthDto | null;
}

export class StatusDto {
  @ApiProperty({ type: WorkersDto, nullable: true, description: 'null when the launch controller is not configured or not answering' })
  workers!: WorkersDto | null;
  @ApiProperty({ type: QueuesDto }) queues!: QueuesDto;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: "The launch controller's last scaling decision" })
  lastDecision?: Record<string, unknown>;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}
