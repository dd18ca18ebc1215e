import 'reflect-metadata';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import {
  ValidateBy,
  buildMessage,
  validateSync,
  type ValidationError,
  type ValidationOptions,
} from 'class-validator';
import { MessageParseError } from './errors';

/** Bytes the value takes inside a JSON document (escapes and UTF-8 counted). */
export function jsonBytes(value: string): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8') - 2;
}

/** One property decorator that applies every one of `checks`: a set of checks several properties share. */
export function allOf(...checks: PropertyDecorator[]): PropertyDecorator {
  return (target, property) => checks.forEach((check) => check(target, property));
}

/** The string must fit in `max` bytes once JSON-encoded; SQS bodies are bounded in bytes, not characters. */
export function MaxJsonBytes(max: number, options?: ValidationOptions) {
  return ValidateBy(
    {
      name: 'maxJsonBytes',
      constraints: [max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && jsonBytes(value) <= max,
        defaultMessage: buildMessage(
          (each) => `${each}$property must take at most $constraint1 bytes as JSON`,
          options,
        ),
      },
    },
    options,
  );
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) =>
      prefix ? `${prefix}.${m}` : m,
    );
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

/** Validate a plain object as `cls`; throws MessageParseError listing every problem. */
export function validatePlain<T extends object>(
  cls: ClassConstructor<T>,
  plain: unknown,
  kind: string,
): T {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new MessageParseError(kind, ['body must be a JSON object']);
  }
  const instance = plainToInstance(cls, plain);
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  if (errors.length > 0) throw new MessageParseError(kind, flatten(errors));
  return instance;
}

/** Parse a JSON body and validate it as `cls`. */
export function parseJson<T extends object>(
  cls: ClassConstructor<T>,
  body: string | undefined,
  kind: string,
): T {
  if (body === undefined || body === '') {
    throw new MessageParseError(kind, ['body is empty']);
  }
  let plain: unknown;
  try {
    plain = JSON.parse(body);
  } catch (e) {
    throw new MessageParseError(kind, [`body is not JSON (${(e as Error).message})`]);
  }
  return validatePlain(cls, plain, kind);
}
