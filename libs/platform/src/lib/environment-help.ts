import { CONFIG_SECTIONS, configVariables, type ConfigVariable } from '@app/config';
import type { CliSpec } from '@app/command-line';

function facts(v: ConfigVariable): string {
  const parts: string[] = [];
  if (v.required) parts.push('required');
  if (v.default !== undefined) parts.push(`default ${v.default === '' ? '(empty)' : v.default}`);
  if (v.allowed) parts.push(v.allowed.join('|'));
  if (v.min !== undefined || v.max !== undefined) parts.push(`${v.min ?? ''}..${v.max ?? ''}`);
  return parts.length > 0 ? parts.join(', ') : 'optional';
}

/** Every variable libs/config reads, by section, with defaults and limits: the text after an app's flags. */
export function environmentHelp(): string {
  const all = configVariables();
  const width = Math.max(...all.map((v) => v.name.length)) + 2;
  const sections = CONFIG_SECTIONS.map(({ title }) => {
    const lines = all.filter((v) => v.section === title).map((v) => `  ${v.name.padEnd(width)}${facts(v)}`);
    return `${title}:\n${lines.join('\n')}`;
  });
  return [
    'Environment variables (every app validates all of them at start; a bad one stops it, naming the variable).',
    'Each is described in docs/configuration.md. With CONFIG_SSM_PATH set they are read first from SSM Parameter Store.',
    '',
    sections.join('\n\n'),
  ].join('\n');
}

/** An app's command line: no flags but --help, since its configuration is the environment. */
export function appCommandLine(app: string): CliSpec<Record<string, never>> {
  return {
    name: `node dist/apps/${app}/main.js`,
    summary: `Starts the ${app}. It takes no arguments: its configuration is the environment, validated at start.`,
    flags: {},
    epilog: environmentHelp(),
  };
}
