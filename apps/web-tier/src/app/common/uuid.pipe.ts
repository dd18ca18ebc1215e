import { BadRequestException, Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { isUuid } from '@app/contracts';

/** Ids in URLs are the server's UUIDs; anything else is a client error, not a lookup. */
@Injectable()
export class UuidPipe implements PipeTransform<string, string> {
  transform(value: string, metadata: ArgumentMetadata): string {
    const v = String(value ?? '').toLowerCase();
    if (!isUuid(v)) throw new BadRequestException(`${metadata.data ?? 'id'} must be a UUID (got ${JSON.stringify(String(value).slice(0, 64))})`);
    return v;
  }
}
