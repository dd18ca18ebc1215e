import { configVariableNames } from '@app/config';

/**
 * Every environment variable libs/config reads (with or without defaults). The
 * deployment files may set only these, plus the AWS SDK's own AWS_* variables
 * (credentials, profile).
 */
export function configVariables(): Set<string> {
  return configVariableNames();
}

/** The names among `names` that neither libs/config nor the AWS SDK reads. */
export function unknownVariables(names: Iterable<string>, known = configVariables()): string[] {
  return [...names].filter((n) => !known.has(n) && !/^AWS_[A-Z0-9_]+$/.test(n)).sort();
}
