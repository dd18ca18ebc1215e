import { INSTANCE_STATE_CODES, type StandInInstance } from './instances';
import { Ec2Error, stringAt, stringsOf, structsOf, wildcardMatch, type QueryTree } from './wire';

type Matcher = (i: StandInInstance, zone: string) => string[];

/** The DescribeInstances filters the stand-in knows, each giving an instance's values for that name. */
const FILTERS: Record<string, Matcher> = {
  'instance-id': (i) => [i.id],
  'instance-state-name': (i) => [i.state],
  'instance-state-code': (i) => [String(INSTANCE_STATE_CODES[i.state])],
  'instance-type': (i) => [i.instanceType],
  'instance-lifecycle': (i) => (i.market === 'spot' ? ['spot'] : []),
  'image-id': (i) => [i.imageId],
  'reservation-id': (i) => [i.reservationId],
  'client-token': (i) => (i.clientToken ? [i.clientToken] : []),
  'private-ip-address': (i) => [i.privateIp],
  'availability-zone': (_i, zone) => [zone],
  'tag-key': (i) => Object.keys(i.tags),
  'tag-value': (i) => Object.values(i.tags),
};

export interface Filter {
  name: string;
  values: string[];
}

export function parseFilters(params: QueryTree): Filter[] {
  return structsOf(params['Filter']).map((f) => {
    const name = stringAt(f, 'Name');
    if (!name) throw new Ec2Error('InvalidParameterValue', 'The filter name must not be empty.');
    if (!name.startsWith('tag:') && !(name in FILTERS)) throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
    return { name, values: stringsOf(f['Value']) };
  });
}

/** Filters AND together; a filter's values OR together (with `*` and `?` wildcards). */
export function matches(i: StandInInstance, filters: Filter[], zone: string): boolean {
  return filters.every((f) => {
    const have = f.name.startsWith('tag:') ? (f.name.slice(4) in i.tags ? [i.tags[f.name.slice(4)]] : []) : FILTERS[f.name](i, zone);
    return f.values.some((want) => have.some((h) => wildcardMatch(want, h)));
  });
}

/** NextToken: the launch sequence number of the last instance returned, so pages stay stable while instances come and go. */
export function encodeNextToken(seq: number): string {
  return Buffer.from(JSON.stringify({ after: seq })).toString('base64url');
}

export function decodeNextToken(token: string): number {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'number' && Number.isInteger(v.after)) return v.after;
  } catch {
    // fall through
  }
  throw new Ec2Error('InvalidParameterValue', `Invalid value '${token}' for nextToken`);
}

export interface DescribePage {
  instances: StandInInstance[];
  nextToken?: string;
}

/**
 * DescribeInstances over the visible instances: InstanceIds (each must exist),
 * Filters, then MaxResults (5..1000, not with InstanceIds) per page.
 */
export function describe(all: StandInInstance[], params: QueryTree, zone: string, now = Date.now()): DescribePage {
  const ids = stringsOf(params['InstanceId']);
  const filters = parseFilters(params);
  const maxResultsRaw = stringAt(params, 'MaxResults');
  const tokenRaw = stringAt(params, 'NextToken');
  let maxResults: number | undefined;
  if (maxResultsRaw !== undefined) {
    if (ids.length > 0) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    maxResults = Number(maxResultsRaw);
    if (!Number.isInteger(maxResults) || maxResults < 5 || maxResults > 1000) {
      throw new Ec2Error('InvalidParameterValue', `Value ( ${maxResultsRaw} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`);
    }
  }
  const visible = all.filter((i) => i.visibleAt <= now).sort((a, b) => a.seq - b.seq);
  let chosen = visible;
  if (ids.length > 0) {
    const malformed = ids.filter((id) => !/^i-[0-9a-f]{8,17}$/.test(id));
    if (malformed.length > 0) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${malformed[0]}"`);
    const missing = ids.filter((id) => !visible.some((i) => i.id === id));
    if (missing.length === 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
    if (missing.length > 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    chosen = visible.filter((i) => ids.includes(i.id));
  }
  chosen = chosen.filter((i) => matches(i, filters, zone));
  if (tokenRaw) {
    const after = decodeNextToken(tokenRaw);
    chosen = chosen.filter((i) => i.seq > after);
  }
  if (maxResults === undefined || chosen.length <= maxResults) return { instances: chosen };
  const page = chosen.slice(0, maxResults);
  return { instances: page, nextToken: encodeNextToken(page[page.length - 1].seq) };
}

/** Consecutive instances of one reservation go into one `<item>` of the reservationSet. */
export function groupByReservation(instances: StandInInstance[]): StandInInstance[][] {
  const groups: StandInInstance[][] = [];
  for (const i of instances) {
    const last = groups[groups.length - 1];
    if (last && last[0].reservationId === i.reservationId) last.push(i);
    else groups.push([i]);
  }
  return groups;
}
