import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

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
