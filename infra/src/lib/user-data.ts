import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** deploy/ at the workspace root: systemd units, user data, install script. */
export const DEPLOY_DIR = resolve(__dirname, '../../../deploy');

const PLACEHOLDER = /@@([A-Z][A-Z0-9_]*)@@/g;

/** The @@NAME@@ placeholders of a template, each once, in order of first use. */
export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/**
 * Fills every @@NAME@@ of a template. Values may be CDK tokens (a queue URL, a
 * parameter): the token strings land in the text and CDK renders the whole as
 * Fn::Join. A placeholder without a value, or a value without a placeholder, is a
 * mistake in the stack or the template, so both throw rather than ship a half-filled
 * script to an instance.
 */
export function renderTemplate(template: string, values: Record<string, string>, name = 'template'): string {
  const wanted = placeholdersOf(template);
  const missing = wanted.filter((p) => !(p in values));
  const unused = Object.keys(values).filter((k) => !wanted.includes(k));
  if (missing.length > 0) throw new Error(`${name}: no value for ${missing.map((m) => `@@${m}@@`).join(', ')}`);
  if (unused.length > 0) throw new Error(`${name}: no placeholder for ${unused.join(', ')}`);
  return template.replace(PLACEHOLDER, (_, key: string) => values[key]);
}

/** Reads deploy/user-data/<file> and fills it. */
export function renderUserData(file: string, values: Record<string, string>): string {
  return renderTemplate(readFileSync(join(DEPLOY_DIR, 'user-data', file), 'utf8'), values, `deploy/user-data/${file}`);
}
