import { INSTANCE_STATE_CODES, type InstanceStateName, type StandInInstance } from './instances';
import { el, set } from './wire';

export const OWNER_ID = '000000000000';

/** EC2's own format in StateTransitionReason: `User initiated (2026-11-28 17:06:24 GMT)`. */
function gmt(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} GMT`;
}

export function stateXml(name: string, state: InstanceStateName): string {
  return `<${name}>${el('code', INSTANCE_STATE_CODES[state])}${el('name', state)}</${name}>`;
}

/** One `<item>` of an instancesSet, with the members EC2 always sends for an EBS-backed HVM instance. */
export function instanceXml(i: StandInInstance, zone: string): string {
  const running = i.state !== 'terminated' && i.state !== 'stopped';
  const dns = running ? `ip-${i.privateIp.replace(/\./g, '-')}.ec2.internal` : '';
  return [
    el('instanceId', i.id),
    el('imageId', i.imageId),
    stateXml('instanceState', i.state),
    el('privateDnsName', dns),
    el('dnsName', ''),
    el('reason', i.stateReason ? `${i.stateReason.code.startsWith('Client.User') ? 'User' : 'Instance'} initiated (${gmt(i.stateReason.at)})` : ''),
    el('amiLaunchIndex', i.amiLaunchIndex),
    set('productCodes', []),
    el('instanceType', i.instanceType),
    el('launchTime', i.launchTime.toISOString()),
    `<placement>${el('availabilityZone', zone)}${el('groupName', '')}${el('tenancy', 'default')}</placement>`,
    `<monitoring>${el('state', 'disabled')}</monitoring>`,
    running ? el('privateIpAddress', i.privateIp) : '',
    set('groupSet', []),
    i.stateReason ? `<stateReason>${el('code', i.stateReason.code)}${el('message', i.stateReason.message)}</stateReason>` : '',
    el('architecture', architectureOf(i.instanceType)),
    el('rootDeviceType', 'ebs'),
    el('rootDeviceName', '/dev/xvda'),
    set('blockDeviceMapping', []),
    el('virtualizationType', 'hvm'),
    el('clientToken', i.clientToken ?? ''),
    set(
      'tagSet',
      Object.entries(i.tags).map(([k, v]) => `${el('key', k)}${el('value', v)}`),
    ),
    el('instanceLifecycle', i.market === 'spot' ? 'spot' : undefined),
    el('spotInstanceRequestId', i.spotInstanceRequestId),
    el('hypervisor', 'xen'),
    set('networkInterfaceSet', []),
    el('ebsOptimized', false),
    el('enaSupport', true),
    `<metadataOptions>${el('state', 'applied')}${el('httpTokens', 'required')}${el('httpPutResponseHopLimit', 2)}${el('httpEndpoint', 'enabled')}</metadataOptions>`,
  ].join('');
}

/** Graviton types carry a `g` after the generation (c7g, m7gd, t4g, c6gn): arm64; everything else here is x86_64. */
export function architectureOf(instanceType: string): 'arm64' | 'x86_64' {
  return /^[a-z]+\d+g[a-z]*\./.test(instanceType) ? 'arm64' : 'x86_64';
}

/** A `<reservationId>…<instancesSet>` body for one reservation's instances. */
export function reservationXml(instances: StandInInstance[], zone: string): string {
  return `${el('reservationId', instances[0]?.reservationId)}${el('ownerId', OWNER_ID)}${set('groupSet', [])}${set(
    'instancesSet',
    instances.map((i) => instanceXml(i, zone)),
  )}`;
}
