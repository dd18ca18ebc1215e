import { createHash } from 'node:crypto';
import { describe, groupByReservation } from './describe';
import { Throttle, type Ec2Faults } from './faults';
import { newId, type InstanceTable, type LaunchSpec, type StandInInstance } from './instances';
import { reservationXml, stateXml } from './instance-xml';
import type { LaunchTemplates } from './launch-templates';
import { Ec2Error, el, set, stringAt, stringsOf, structsOf, type QueryTree } from './wire';

/** One API call as the stand-in saw it, for tests to assert on. */
export interface ApiCall {
  action: string;
  at: number;
  /** The error code answered, if any. */
  error?: string;
}

const DEFAULT_IMAGE_ID = 'ami-00000000000000000';
const DEFAULT_INSTANCE_TYPE = 'm1.small';

/** RunInstances, DescribeInstances, TerminateInstances and CreateTags on the instance table. */
export class Ec2Api {
  readonly calls: ApiCall[] = [];
  readonly throttle: Throttle;
  private readonly clientTokens = new Map<string, { fingerprint: string; reservationId: string }>();

  constructor(
    private readonly instances: InstanceTable,
    private readonly templates: LaunchTemplates,
    private readonly faults: () => Ec2Faults,
    private readonly zone: string,
    private readonly log: (msg: string) => void,
  ) {
    this.throttle = new Throttle(faults);
  }

  /** Answers one call with the response body (XML) or throws an Ec2Error. */
  handle(action: string, params: QueryTree): string {
    const call: ApiCall = { action, at: Date.now() };
    this.calls.push(call);
    if (this.calls.length > 10_000) this.calls.splice(0, 5_000);
    try {
      if (!(action in this.actions)) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
      this.throttle.check(action);
      if (stringAt(params, 'DryRun') === 'true') {
        throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
      }
      return this.actions[action](params);
    } catch (err) {
      call.error = err instanceof Ec2Error ? err.code : 'InternalError';
      throw err;
    }
  }

  private readonly actions: Record<string, (p: QueryTree) => string> = {
    RunInstances: (p) => this.runInstances(p),
    DescribeInstances: (p) => this.describeInstances(p),
    TerminateInstances: (p) => this.terminateInstances(p),
    CreateTags: (p) => this.createTags(p),
  };

  private runInstances(p: QueryTree): string {
    const min = this.count(p, 'MinCount');
    const max = this.count(p, 'MaxCount');
    if (min > max) throw new Ec2Error('InvalidParameterValue', `MinCount (${min}) must be less than or equal to MaxCount (${max}).`);
    const token = stringAt(p, 'ClientToken');
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ ...p, ClientToken: undefined }))
      .digest('hex');
    if (token) {
      const seen = this.clientTokens.get(token);
      if (seen && seen.fingerprint !== fingerprint) {
        throw new Ec2Error('IdempotentParameterMismatch', 'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).');
      }
      if (seen) {
        this.log(`RunInstances: client token ${token} seen before: answering reservation ${seen.reservationId} again`);
        return reservationXml(this.instances.all().filter((i) => i.reservationId === seen.reservationId), this.zone);
      }
    }
    const spec = this.launchSpec(p, token);
    const f = this.faults();
    const room = f.capacity === undefined ? max : Math.max(0, f.capacity - this.instances.alive().length);
    const spotRoom =
      spec.market !== 'spot' || f.spotCapacity === undefined ? max : Math.max(0, f.spotCapacity - this.instances.alive().filter((i) => i.market === 'spot').length);
    const count = Math.min(max, room, spotRoom);
    if (count < min) {
      throw new Ec2Error(
        'InsufficientInstanceCapacity',
        `We currently do not have sufficient ${spec.instanceType} capacity in the Availability Zone you requested (${this.zone}). ` +
          `Our system will be working on provisioning additional capacity. You can currently get ${spec.instanceType} capacity by not ` +
          `specifying an Availability Zone in your request or choosing ${this.zone.slice(0, -1)}b, ${this.zone.slice(0, -1)}c.`,
        500,
      );
    }
    const launched = this.instances.launch(spec, count, f.describeLagSeconds * 1000);
    if (token) this.clientTokens.set(token, { fingerprint, reservationId: spec.reservationId });
    this.log(`RunInstances: ${launched.map((i) => i.id).join(', ')} (${spec.market}, MinCount ${min}, MaxCount ${max}) in ${spec.reservationId}`);
    return reservationXml(launched, this.zone);
  }

  private count(p: QueryTree, name: string): number {
    const raw = stringAt(p, name);
    if (raw === undefined) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Ec2Error('InvalidParameterValue', `Value (${raw}) for parameter ${name} is invalid. Expected a positive integer.`);
    return n;
  }

  private launchSpec(p: QueryTree, clientToken: string | undefined): LaunchSpec {
    const ltNode = p['LaunchTemplate'];
    const lt =
      ltNode !== undefined && typeof ltNode !== 'string'
        ? this.templates.resolve({ id: stringAt(ltNode, 'LaunchTemplateId'), name: stringAt(ltNode, 'LaunchTemplateName'), version: stringAt(ltNode, 'Version') })
        : undefined;
    const imageId = stringAt(p, 'ImageId') ?? lt?.data.imageId ?? (lt ? DEFAULT_IMAGE_ID : undefined);
    if (!imageId) throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageId');
    const tags: Record<string, string> = {};
    if (lt) {
      // EC2 marks instances launched from a template with these tags.
      tags['aws:ec2launchtemplate:id'] = lt.template.id;
      tags['aws:ec2launchtemplate:version'] = String(lt.version);
    }
    for (const spec of structsOf(p['TagSpecification'])) {
      const type = stringAt(spec, 'ResourceType');
      if (type !== 'instance' && type !== 'volume' && type !== 'network-interface') {
        throw new Ec2Error('InvalidParameterValue', `'${type ?? ''}' is not a valid taggable resource type for this operation.`);
      }
      if (type !== 'instance') continue;
      for (const t of structsOf(spec['Tag'])) Object.assign(tags, this.tag(t));
    }
    const behaviour = stringAt(p, 'InstanceInitiatedShutdownBehavior') ?? lt?.data.shutdownBehavior ?? 'stop';
    if (behaviour !== 'stop' && behaviour !== 'terminate') {
      throw new Ec2Error('InvalidParameterValue', `Value (${behaviour}) for parameter InstanceInitiatedShutdownBehavior is invalid.`);
    }
    const market = this.market(p);
    return {
      market,
      reservationId: newId('r'),
      imageId,
      instanceType: stringAt(p, 'InstanceType') ?? lt?.data.instanceType ?? DEFAULT_INSTANCE_TYPE,
      launchTemplate: lt ? { id: lt.template.id, name: lt.template.name, version: String(lt.version) } : undefined,
      clientToken,
      shutdownBehavior: behaviour,
      tags,
      workerEnv: lt?.data.workerEnv,
    };
  }

  /**
   * InstanceMarketOptions: on-demand without it; `spot` for a one-time Spot
   * instance that terminates on interruption (what the fleet asks for). A
   * MaxPrice below the current Spot price is refused as EC2 refuses it.
   */
  private market(p: QueryTree): 'on-demand' | 'spot' {
    const node = p['InstanceMarketOptions'];
    if (node === undefined || typeof node === 'string') return 'on-demand';
    const type = stringAt(node, 'MarketType');
    if (type !== 'spot') throw new Ec2Error('InvalidParameterValue', `Value (${type ?? ''}) for parameter InstanceMarketOptions.MarketType is invalid. The stand-in knows spot.`);
    const options = node['SpotOptions'];
    const requestType = stringAt(options, 'SpotInstanceType') ?? 'one-time';
    const behaviour = stringAt(options, 'InstanceInterruptionBehavior') ?? 'terminate';
    if (requestType !== 'one-time' || behaviour !== 'terminate') {
      throw new Ec2Error('InvalidParameterCombination', `The EC2 stand-in launches one-time Spot instances that terminate on interruption (got ${requestType}, ${behaviour}).`);
    }
    const maxPrice = stringAt(options, 'MaxPrice');
    const price = this.faults().spotPrice;
    if (maxPrice !== undefined) {
      const max = Number(maxPrice);
      if (!(max > 0)) throw new Ec2Error('InvalidParameterValue', `Value (${maxPrice}) for parameter MaxPrice is invalid.`);
      if (price !== undefined && max < price) {
        throw new Ec2Error('SpotMaxPriceTooLow', `Your Spot request price of ${maxPrice} is lower than the minimum required Spot request fulfillment price of ${price}.`);
      }
    }
    return 'spot';
  }

  private tag(t: QueryTree): Record<string, string> {
    const key = stringAt(t, 'Key');
    if (!key) throw new Ec2Error('InvalidParameterValue', 'Tag keys must not be empty.');
    if (key.toLowerCase().startsWith('aws:')) throw new Ec2Error('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved for internal use`);
    if (key.length > 128) throw new Ec2Error('InvalidParameterValue', 'Tag keys must be at most 128 characters.');
    const value = stringAt(t, 'Value') ?? '';
    if (value.length > 256) throw new Ec2Error('InvalidParameterValue', 'Tag values must be at most 256 characters.');
    return { [key]: value };
  }

  private describeInstances(p: QueryTree): string {
    this.instances.expire(3_600_000);
    const page = describe(this.instances.all(), p, this.zone);
    const reservations = groupByReservation(page.instances).map((r) => reservationXml(r, this.zone));
    return `${set('reservationSet', reservations)}${el('nextToken', page.nextToken)}`;
  }

  /** Every named instance must exist (a missing one fails the whole call); at most 1000 per call. */
  private existing(ids: string[], parameter: string): StandInInstance[] {
    if (ids.length === 0) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${parameter}`);
    if (ids.length > 1000) throw new Ec2Error('InvalidParameterValue', `At most 1000 values for ${parameter}.`);
    const malformed = ids.find((id) => !/^i-[0-9a-f]{8,17}$/.test(id));
    if (malformed) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
    const missing = ids.filter((id) => !this.instances.get(id));
    if (missing.length === 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
    if (missing.length > 1) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    return ids.map((id) => this.instances.get(id) as StandInInstance);
  }

  private terminateInstances(p: QueryTree): string {
    const targets = this.existing(stringsOf(p['InstanceId']), 'InstanceId');
    const items = targets.map((i) => {
      const previous = this.instances.terminate(i.id);
      return `${el('instanceId', i.id)}${stateXml('currentState', i.state)}${stateXml('previousState', previous)}`;
    });
    this.log(`TerminateInstances: ${targets.map((i) => i.id).join(', ')}`);
    return set('instancesSet', items);
  }

  private createTags(p: QueryTree): string {
    const ids = stringsOf(p['ResourceId']);
    const tags = structsOf(p['Tag']).map((t) => this.tag(t));
    if (tags.length === 0) throw new Ec2Error('MissingParameter', 'The request must contain the parameter Tag');
    const targets = this.existing(ids, 'ResourceId');
    for (const i of targets) for (const t of tags) Object.assign(i.tags, t);
    return el('return', true);
  }
}
