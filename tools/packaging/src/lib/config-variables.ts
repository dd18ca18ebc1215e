import 'reflect-metadata';
import { getMetadataStorage } from 'class-validator';
import { Environment, ScalingEnvironment, WebEnvironment, WorkerEnvironment } from '@app/config';

/**
 * Every environment variable libs/config reads: the validated properties of its
 * four environment classes (with or without defaults). The deployment files may
 * set only these, plus the AWS SDK's own AWS_* variables (credentials, profile).
 */
export function configVariables(): Set<string> {
  const storage = getMetadataStorage();
  return new Set(
    [Environment, WorkerEnvironment, WebEnvironment, ScalingEnvironment].flatMap((cls) =>
      storage.getTargetValidationMetadatas(cls, '', true, false).map((m) => m.propertyName),
    ),
  );
}

/** The names among `names` that neither libs/config nor the AWS SDK reads. */
export function unknownVariables(names: Iterable<string>, known = configVariables()): string[] {
  return [...names].filter((n) => !known.has(n) && !/^AWS_[A-Z0-9_]+$/.test(n)).sort();
}
