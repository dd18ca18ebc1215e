/**
 * The /etc/ics/*.env files a user-data script writes, as { path: { NAME: value } }:
 * quoted heredocs (`cat > /etc/ics/x.env <<'ENV'`) and `echo "NAME=..." >> /etc/ics/x.env`
 * lines, whose `$name` is expanded from the script's own `name='value'` assignments.
 */
export function envFilesOf(script: string): Record<string, Record<string, string>> {
  const files: Record<string, Record<string, string>> = {};
  for (const m of script.matchAll(/cat > (\/etc\/ics\/[\w.-]+\.env) <<'ENV'\n([\s\S]*?)\nENV\n/g)) {
    files[m[1]] = Object.fromEntries(m[2].split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]));
  }
  const shellVars = Object.fromEntries([...script.matchAll(/^([a-z_]+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));
  for (const m of script.matchAll(/echo "([A-Z0-9_]+)=([^"]*)" >> (\/etc\/ics\/[\w.-]+\.env)/g)) {
    (files[m[3]] ??= {})[m[1]] = m[2].replace(/\$([a-z_]+)/g, (_, v: string) => shellVars[v] ?? `<unset ${v}>`);
  }
  return files;
}

/** Fills @@NAME@@ placeholders from `values`; throws on one without a value. */
export function fillPlaceholders(text: string, values: Record<string, string>): string {
  return text.replace(/@@([A-Z][A-Z0-9_]*)@@/g, (_, k: string) => {
    if (!(k in values)) throw new Error(`no value for @@${k}@@`);
    return values[k];
  });
}
