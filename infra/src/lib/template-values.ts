/**
 * Test support: turns a CloudFormation value (a string, or Fn::Join / Fn::Base64 /
 * Ref / Fn::GetAtt / Fn::If over them) into the concrete string it would become
 * on deployment, with made-up but valid values for what only AWS knows (ids,
 * region, account). Lets the tests read the user data that an instance receives.
 */
export type CfnValue = string | number | { [fn: string]: unknown };

export interface Template {
  Parameters?: Record<string, { Type: string; Default?: string | number }>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  Conditions?: Record<string, unknown>;
}

export const SAMPLE = { region: 'eu-west-1', account: '123456789012' };

export function resolveValue(t: Template, value: unknown, parameters: Record<string, string> = {}): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const v = value as Record<string, unknown>;
  if ('Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveValue(t, p, parameters)).join(sep);
  }
  if ('Fn::Base64' in v) return resolveValue(t, v['Fn::Base64'], parameters);
  if ('Fn::If' in v) {
    // Conditions here all test a parameter against '': evaluate that one shape.
    const [cond, yes, no] = v['Fn::If'] as [string, unknown, unknown];
    return resolveValue(t, evaluateCondition(t, t.Conditions?.[cond], parameters) ? yes : no, parameters);
  }
  if ('Ref' in v) return resolveRef(t, v['Ref'] as string, parameters);
  if ('Fn::GetAtt' in v) {
    const [id, attr] = v['Fn::GetAtt'] as [string, string];
    return `${id.toLowerCase()}-${attr.toLowerCase()}`;
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

function evaluateCondition(t: Template, cond: unknown, parameters: Record<string, string>): boolean {
  const c = cond as Record<string, unknown[]>;
  if ('Fn::Not' in c) return !evaluateCondition(t, c['Fn::Not'][0], parameters);
  if ('Fn::Equals' in c) {
    const [a, b] = c['Fn::Equals'].map((x) => resolveValue(t, x, parameters));
    return a === b;
  }
  throw new Error(`cannot evaluate condition ${JSON.stringify(cond)}`);
}

function resolveRef(t: Template, id: string, parameters: Record<string, string>): string {
  if (id === 'AWS::Region') return SAMPLE.region;
  if (id === 'AWS::AccountId') return SAMPLE.account;
  if (id === 'AWS::Partition') return 'aws';
  if (id === 'AWS::URLSuffix') return 'amazonaws.com';
  const param = t.Parameters?.[id];
  if (param) {
    if (id in parameters) return parameters[id];
    if (param.Type.startsWith('AWS::SSM::Parameter::Value') || param.Type === 'AWS::EC2::Image::Id') return 'ami-0aaaaaaaaaaaaaaaa';
    return String(param.Default ?? '');
  }
  const resource = t.Resources[id];
  if (!resource) throw new Error(`Ref to unknown ${id}`);
  const props = resource.Properties ?? {};
  switch (resource.Type) {
    case 'AWS::SQS::Queue':
      return `https://sqs.${SAMPLE.region}.amazonaws.com/${SAMPLE.account}/${String(props['QueueName'] ?? id)}`;
    case 'AWS::S3::Bucket':
      return `ics-${id.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
    case 'AWS::EC2::LaunchTemplate':
      return 'lt-0123456789abcdef0';
    case 'AWS::EC2::Subnet':
      return 'subnet-0123456789abcdef0';
    case 'AWS::EC2::SecurityGroup':
      return 'sg-0123456789abcdef0';
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${SAMPLE.region}:${SAMPLE.account}:${String(props['TopicName'] ?? id)}`;
    case 'AWS::Logs::LogGroup':
      return String(props['LogGroupName'] ?? id);
    default:
      throw new Error(`no sample value for a Ref to ${resource.Type} (${id})`);
  }
}
