import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Injectable } from '@nestjs/common';
import { stringify } from 'csv-stringify';
import type { Response } from 'express';
import type { ImageResultDto } from '../results/dto';
import type { ImageRecord } from '../results/results.store';
import { ResultsService } from '../results/results.service';

export const EXPORT_FORMATS = ['json', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CSV_COLUMNS = ['imageId', 'fileName', 'status', 'label', 'confidence', 'top5', 'attempts', 'error'] as const;

/** One CSV row of an image: top5 as `label:score` pairs joined with `|`. */
export function csvRow(dto: ImageResultDto): Record<(typeof CSV_COLUMNS)[number], string | number> {
  return {
    imageId: dto.imageId,
    fileName: dto.fileName,
    status: dto.status,
    label: dto.label ?? '',
    confidence: dto.confidence ?? '',
    top5: (dto.top5 ?? []).map((p) => `${p.label}:${p.confidence}`).join('|'),
    attempts: dto.attempts ?? '',
    error: dto.error?.reason ?? '',
  };
}

/**
 * A batch's results as one download, any size: rows are made as the client
 * reads them (the pipeline waits on the response's back-pressure), so memory
 * holds the batch's records but never the whole document.
 */
@Injectable()
export class BatchExport {
  constructor(private readonly results: ResultsService) {}

  async send(batchId: string, records: ImageRecord[], format: ExportFormat, res: Response): Promise<void> {
    const results = this.results;
    async function* dtos(): AsyncGenerator<ImageResultDto> {
      for (const r of records) yield await results.toDto(r);
    }
    res.status(200);
    res.setHeader('Content-Disposition', `attachment; filename="batch-${batchId}.${format}"`);
    res.setHeader('Cache-Control', 'no-store');
    if (format === 'csv') {
      res.type('text/csv; charset=utf-8');
      const csv: Transform = stringify({ header: true, columns: [...CSV_COLUMNS] });
      await pipeline(Readable.from(mapAsync(dtos(), csvRow)), csv, res);
      return;
    }
    res.type('application/json; charset=utf-8');
    await pipeline(Readable.from(jsonArray(dtos())), res);
  }
}

async function* mapAsync<T, R>(items: AsyncIterable<T>, fn: (item: T) => R): AsyncGenerator<R> {
  for await (const item of items) yield fn(item);
}

/** `[`, the items separated by commas, `]`: a JSON array written piece by piece. */
async function* jsonArray(items: AsyncIterable<unknown>): AsyncGenerator<string> {
  yield '[';
  let first = true;
  for await (const item of items) {
    yield (first ? '' : ',') + JSON.stringify(item);
    first = false;
  }
  yield ']\n';
}
