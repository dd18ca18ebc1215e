import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

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
