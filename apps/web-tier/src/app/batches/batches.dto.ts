import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { BadRequestException } from '@nestjs/common';
import { ImageResultDto } from '../results/dto';

export class BatchSummaryDto {
  @ApiProperty({ format: 'uuid' }) batchId!: string;
  @ApiPropertyOptional({ maxLength: 200, description: 'The label given when the batch was created' }) label?: string;
  @ApiPropertyOptional({ format: 'uri', description: 'Where the batch is announced when it finishes: one signed POST (see the webhooks section of docs/jobs-api.md)' }) callbackUrl?: string;
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

export const MAX_LABEL_CHARS = 200;
export const MAX_CALLBACK_URL_CHARS = 2048;

/** The optional body of `POST /api/batches`. */
export class CreateBatchDto {
  @ApiPropertyOptional({ format: 'uri', maxLength: MAX_CALLBACK_URL_CHARS, example: 'https://example.com/hooks/ics', description: 'An absolute URL (https in production, never a private address) that gets one POST signed with ICS-Signature when the batch finishes; the tenant needs a webhook secret' })
  callbackUrl?: string;

  @ApiPropertyOptional({ maxLength: MAX_LABEL_CHARS, example: 'holiday photos' })
  label?: string;
}

export class BatchListDto {
  @ApiProperty({ type: [BatchSummaryDto], description: "The tenant's batches, newest first" }) batches!: BatchSummaryDto[];
  @ApiPropertyOptional({ description: 'Pass as `cursor` for the next page; absent on the last page' }) nextCursor?: string;
}

/** Checks the body of `POST /api/batches`: a client error names the field and why. */
export function parseCreateBatch(body: unknown): CreateBatchDto {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequestException('the body must be a JSON object { callbackUrl?, label? }');
  const { callbackUrl, label, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new BadRequestException(`unknown field(s): ${unknown.slice(0, 5).join(', ')}; allowed: callbackUrl, label`);
  const out: CreateBatchDto = {};
  if (label !== undefined) {
    if (typeof label !== 'string' || label.length > MAX_LABEL_CHARS) throw new BadRequestException(`label must be a string of at most ${MAX_LABEL_CHARS} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(label)) throw new BadRequestException('label must not contain control characters');
    out.label = label;
  }
  if (callbackUrl !== undefined) {
    if (typeof callbackUrl !== 'string' || callbackUrl.length > MAX_CALLBACK_URL_CHARS) throw new BadRequestException(`callbackUrl must be a URL of at most ${MAX_CALLBACK_URL_CHARS} characters`);
    let url: URL;
    try {
      url = new URL(callbackUrl);
    } catch {
      throw new BadRequestException('callbackUrl must be an absolute http(s) URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BadRequestException('callbackUrl must be an absolute http(s) URL');
    if (url.username || url.password) throw new BadRequestException('callbackUrl must not carry credentials');
    out.callbackUrl = url.toString();
  }
  return out;
}
