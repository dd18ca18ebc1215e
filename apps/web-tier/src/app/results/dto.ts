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
