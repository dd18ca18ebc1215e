import { randomUUID } from 'node:crypto';

/** The XML namespace of every EC2 Query API response (API version 2016-11-15). */
export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
export const EC2_API_VERSION = '2016-11-15';

/**
 * A request's form parameters as a tree: EC2's Query protocol flattens lists as
 * `Name.1`, `Name.2` and structures as `Name.Member`, so `Filter.1.Value.2=x`
 * becomes `{ Filter: { '1': { Value: { '2': 'x' } } } }`.
 */
export type QueryTree = { [key: string]: QueryTree | string };

export function parseQuery(body: string): QueryTree {
  const root: QueryTree = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.split('.');
    let node = root;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (typeof next === 'string' || next === undefined) node = node[part] = {};
      else node = next;
    }
    node[path[path.length - 1]] = value;
  }
  return root;
}

/** The members of a flattened list (`X.1`, `X.2`, ...), in index order. */
export function listOf(node: QueryTree | string | undefined): (QueryTree | string)[] {
  if (node === undefined || typeof node === 'string') return [];
  return Object.keys(node)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => node[k]);
}

export function stringsOf(node: QueryTree | string | undefined): string[] {
  return listOf(node).filter((v): v is string => typeof v === 'string');
}

export function structsOf(node: QueryTree | string | undefined): QueryTree[] {
  return listOf(node).filter((v): v is QueryTree => typeof v !== 'string');
}

export function stringAt(node: QueryTree | string | undefined, key: string): string | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  const v = node[key];
  return typeof v === 'string' ? v : undefined;
}

/** An EC2 API error: the code and HTTP status real EC2 answers with. */
export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

/** `<name>value</name>`, escaped; nothing when value is undefined. */
export function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name><item>…</item>…</name>`: how EC2 writes every list. */
export function set(name: string, items: string[]): string {
  return items.length === 0 ? `<${name}/>` : `<${name}>${items.map((i) => `<item>${i}</item>`).join('')}</${name}>`;
}

export function newRequestId(): string {
  return randomUUID();
}

/** A successful response: `<ActionResponse xmlns=…><requestId>…</requestId>…</ActionResponse>`. */
export function responseXml(action: string, requestId: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}"><requestId>${requestId}</requestId>${body}</${action}Response>`;
}

/** EC2's error document (unlike other Query services, no namespace and `RequestID`). */
export function errorXml(err: Ec2Error, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${el('Code', err.code)}${el('Message', err.message)}</Error></Errors>${el('RequestID', requestId)}</Response>`;
}

/** `*` and `?` wildcards, as EC2 filter values allow. */
export function wildcardMatch(pattern: string, value: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === value;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(value);
}
