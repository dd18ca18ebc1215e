import { BadRequestException, HttpException, HttpStatus, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { sniffImageType, type ImageExtension } from '@app/contracts';
import busboy, { type Busboy, type FileInfo } from 'busboy';
import type { Request } from 'express';
import type { Readable } from 'node:stream';
import { Budget } from './byte-budget';
import { sanitizeFileName } from './file-name';
import { formatBytes } from './upload.errors';

/** Enough bytes to tell every accepted type by its signature (WebP: "RIFF....WEBP"). */
const SNIFF_BYTES = 12;

export interface ReceivedFile {
  /** Position in the upload, from 0. */
  index: number;
  fileName: string;
  ext: ImageExtension;
  bytes: Buffer;
}

export interface MultipartOptions {
  field: string;
  /** Classic mode: exactly one file. */
  single: boolean;
  maxFiles: number;
  maxFileBytes: number;
  /** Files of one request being stored at once. */
  concurrency: number;
  /** Told of every byte buffered (+) and let go (−). */
  count(delta: number): void;
  /** File parts seen so far (also after a failure), for the metrics. */
  progress: { files: number };
  /** Aborted: stop reading and fail with the signal's reason (a body too slow, memory gone), once the stores started have settled. */
  signal?: AbortSignal;
}

/**
 * Reads a multipart upload one file at a time and hands each checked file to
 * `store` while the rest of the body is still arriving. A request holds at
 * most one file's worth of bytes (MAX_FILE_BYTES): a file is read only while
 * the files before it that are still being stored leave room, otherwise the
 * body waits (TCP back-pressure), so 100 files of 10 MiB never sit in memory
 * together. Each file is checked as it arrives (its first bytes must be an
 * image signature, its size within the limit, its field the expected one);
 * the first bad file stops the reading, the rest of the body is discarded,
 * and the promise rejects with the 4xx once every store already started has
 * settled, so that the caller can remove what was stored.
 */
export function readMultipart(req: Request, opts: MultipartOptions, store: (file: ReceivedFile) => Promise<void>): Promise<void> {
  let parser: Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // Browsers send file names as raw UTF-8.
      defParamCharset: 'utf8',
      // busboy flags a file that reaches fileSize; MAX_FILE_BYTES itself is allowed.
      limits: { fileSize: opts.maxFileBytes + 1, files: opts.maxFiles, fields: 20, parts: opts.maxFiles + 20, fieldSize: 64 * 1024 },
    });
  } catch (err) {
    return Promise.reject(new BadRequestException(`malformed multipart body: ${(err as Error).message}`));
  }
  const room = new Budget(opts.maxFileBytes);
  const slots = new Budget(opts.concurrency);
  const storing: Promise<void>[] = [];
  let reading: Promise<void> = Promise.resolve();
  let current: Readable | undefined;
  let failure: unknown;
  let ended = false;
  const what = opts.single ? 'the image' : 'the images';

  return new Promise<void>((resolve, reject) => {
    const finish = () => {
      if (ended) return;
      ended = true;
      req.off('close', onRequestClose);
      opts.signal?.removeEventListener('abort', onAbort);
      void reading
        .then(() => Promise.all(storing))
        .then(() => (failure ? reject(failure) : resolve()));
    };
    const fail = (err: unknown) => {
      if (failure) return;
      failure = err;
      // Stop parsing; read and drop the rest of the body so the answer can go out at once.
      req.unpipe(parser);
      req.resume();
      current?.destroy();
      finish();
    };
    const onRequestClose = () => {
      if (!req.complete) fail(new BadRequestException('the upload was cut off before its end'));
    };
    req.on('close', onRequestClose);
    const onAbort = () => fail(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const readFile = async (field: string, stream: Readable, info: FileInfo): Promise<void> => {
      if (failure) return void stream.resume();
      if (field !== opts.field) {
        stream.resume();
        return fail(new BadRequestException(`unexpected file field "${field}": send ${what} in the field "${opts.field}"`));
      }
      const index = opts.progress.files++;
      const fileName = sanitizeFileName(info.filename, `image-${index + 1}`);
      const chunks: Buffer[] = [];
      let size = 0;
      let ext: ImageExtension | undefined;
      const letGo = () => {
        room.give(size);
        opts.count(-size);
      };
      current = stream;
      stream.once('limit', () => fail(new PayloadTooLargeException(`file "${fileName}" is larger than ${formatBytes(opts.maxFileBytes)}`)));
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          await room.take(chunk.length);
          size += chunk.length;
          opts.count(chunk.length);
          chunks.push(chunk);
          if (failure) break;
          if (!ext && size >= SNIFF_BYTES) {
            ext = sniffImageType(Buffer.concat(chunks));
            if (!ext) throw notAnImage(fileName);
          }
        }
        if (failure) return letGo();
        if (size === 0) throw new BadRequestException(`file "${fileName}" is empty (0 bytes); nothing was accepted`);
        ext ??= sniffImageType(Buffer.concat(chunks));
        if (!ext) throw notAnImage(fileName);
      } catch (err) {
        letGo();
        // A destroyed stream after a failure elsewhere is not news.
        if (!failure) fail(err instanceof HttpException ? err : new BadRequestException(`malformed multipart body: ${(err as Error).message}`));
        return;
      } finally {
        current = undefined;
      }
      const bytes = Buffer.concat(chunks, size);
      chunks.length = 0;
      await slots.take(1);
      storing.push(
        store({ index, fileName, ext, bytes }).finally(() => {
          slots.give(1);
          letGo();
        }),
      );
    };

    parser.on('file', (field, stream, info) => {
      // One file at a time, in order: the next part is parsed only once this one is read.
      reading = reading.then(() => readFile(field, stream, info));
    });
    parser.on('filesLimit', () =>
      fail(
        opts.single
          ? new BadRequestException(`send exactly one file in the field "${opts.field}"`)
          : new HttpException(`too many files: at most ${opts.maxFiles} per upload`, HttpStatus.PAYLOAD_TOO_LARGE),
      ),
    );
    parser.on('partsLimit', () => fail(new HttpException(`too many parts: at most ${opts.maxFiles} files and 20 fields`, HttpStatus.PAYLOAD_TOO_LARGE)));
    parser.on('fieldsLimit', () => fail(new BadRequestException('too many form fields: at most 20')));
    parser.on('error', (err: Error) => fail(new BadRequestException(`malformed multipart body: ${err.message}`)));
    parser.on('close', finish);
    req.pipe(parser);
  });
}

function notAnImage(fileName: string): HttpException {
  return new UnsupportedMediaTypeException(`file "${fileName}" is not a JPEG, PNG, WebP or GIF image (judged by its bytes); nothing was accepted`);
}
