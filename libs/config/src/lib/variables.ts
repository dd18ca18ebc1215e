import 'reflect-metadata';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { Environment } from './environment';
import { ScalingEnvironment } from './scaling.env';
import { WebEnvironment } from './web.env';
import { WorkerEnvironment } from './worker.env';

/** The environment classes loadConfig validates, in the order the documentation shows them. */
export const CONFIG_SECTIONS = [
  { title: 'Every app: AWS, buckets, queues, fleet size, HTTP, logs', source: 'environment.ts', cls: Environment },
  { title: 'Worker and model', source: 'worker.env.ts', cls: WorkerEnvironment },
  { title: 'Web tier', source: 'web.env.ts', cls: WebEnvironment },
  { title: 'Fleet and controllers', source: 'scaling.env.ts', cls: ScalingEnvironment },
] as const;

export interface ConfigVariable {
  name: string;
  section: string;
  /** The value used when the variable is unset, as it would be written; undefined: no default. */
  default?: string;
  /** Must be set (no default, not optional). */
  required: boolean;
  kind: 'integer' | 'number' | 'boolean' | 'url' | 'list' | 'string';
  min?: number;
  max?: number;
  allowed?: readonly string[];
  /** A regular expression the value must match. */
  pattern?: string;
}

function defaultOf(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/**
 * Every variable libs/config reads, with its default and limits, from the validation
 * decorators themselves: the apps' `--help` and docs/configuration.md both come from here,
 * so neither can drift from what is enforced.
 */
export function configVariables(): ConfigVariable[] {
  const storage = getMetadataStorage();
  return CONFIG_SECTIONS.flatMap(({ title, cls }) => {
    const defaults = new (cls as new () => object)() as Record<string, unknown>;
    const byName = new Map<string, ConfigVariable>();
    for (const m of storage.getTargetValidationMetadatas(cls, '', true, false)) {
      const v = byName.get(m.propertyName) ?? {
        name: m.propertyName,
        section: title,
        default: defaultOf(defaults[m.propertyName]),
        required: true,
        kind: 'string' as ConfigVariable['kind'],
      };
      byName.set(m.propertyName, v);
      const constraint = m.constraints?.[0] as unknown;
      if (m.type === ValidationTypes.CONDITIONAL_VALIDATION) v.required = false;
      if (m.name === 'isInt') v.kind = 'integer';
      if (m.name === 'isNumber') v.kind = 'number';
      if (m.name === 'isBoolean') v.kind = 'boolean';
      if (m.name === 'isUrl') v.kind = 'url';
      if (m.name === 'isArray') v.kind = 'list';
      if (m.name === 'min') v.min = constraint as number;
      if (m.name === 'max') v.max = constraint as number;
      if (m.name === 'isIn') v.allowed = constraint as string[];
      if (m.name === 'matches') v.pattern = String(constraint);
    }
    for (const v of byName.values()) if (v.default !== undefined) v.required = false;
    return [...byName.values()];
  });
}

/** The names alone. */
export function configVariableNames(): Set<string> {
  return new Set(configVariables().map((v) => v.name));
}
