import { newId } from './instances';
import { Ec2Error } from './wire';

/** One version of a launch template: what an instance launched from it gets. */
export interface LaunchTemplateData {
  imageId?: string;
  instanceType?: string;
  /** InstanceInitiatedShutdownBehavior (the stack's template says terminate). */
  shutdownBehavior?: 'terminate' | 'stop';
  /**
   * The worker's environment, as the template's user data would write it into
   * /etc/ics/*.env (queue URLs, buckets, model, IDLE_SECONDS, ...). Without it
   * the instance boots but runs no worker.
   */
  workerEnv?: Record<string, string>;
}

export interface LaunchTemplateConfig {
  /** Default: a new `lt-…` id. */
  id?: string;
  /** Default: the id. */
  name?: string;
  /** Version 1, 2, ... in order; `$Latest` is the last. At least one. */
  versions: LaunchTemplateData[];
  /** `$Default`; default 1. */
  defaultVersion?: number;
}

export interface LaunchTemplate {
  id: string;
  name: string;
  versions: LaunchTemplateData[];
  defaultVersion: number;
}

export class LaunchTemplates {
  private readonly byId = new Map<string, LaunchTemplate>();

  add(config: LaunchTemplateConfig): LaunchTemplate {
    if (config.versions.length === 0) throw new Error('a launch template needs at least one version');
    const id = config.id ?? newId('lt');
    if (!/^lt-[0-9a-f]{8,17}$/.test(id)) throw new Error(`launch template id must look like lt-0123456789abcdef0 (got ${id})`);
    const t: LaunchTemplate = { id, name: config.name ?? id, versions: config.versions, defaultVersion: config.defaultVersion ?? 1 };
    this.byId.set(id, t);
    return t;
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** LaunchTemplate.{LaunchTemplateId | LaunchTemplateName, Version} as RunInstances names it. */
  resolve(spec: { id?: string; name?: string; version?: string }): { template: LaunchTemplate; version: number; data: LaunchTemplateData } {
    if (spec.id && spec.name) {
      throw new Ec2Error('InvalidParameterCombination', 'Specify either the launch template ID or the launch template name, but not both.');
    }
    let template: LaunchTemplate | undefined;
    if (spec.id) {
      if (!/^lt-[0-9a-f]{8,17}$/.test(spec.id)) throw new Ec2Error('InvalidLaunchTemplateId.Malformed', `The specified ID for the launch template (${spec.id}) is malformed.`);
      template = this.byId.get(spec.id);
      if (!template) throw new Ec2Error('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${spec.id}, does not exist.`);
    } else if (spec.name) {
      template = [...this.byId.values()].find((t) => t.name === spec.name);
      if (!template) throw new Ec2Error('InvalidLaunchTemplateName.NotFoundException', `The specified launch template, with template name ${spec.name}, does not exist.`);
    } else {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter launchTemplateId or launchTemplateName.');
    }
    const v = spec.version ?? '$Default';
    const version = v === '$Latest' ? template.versions.length : v === '$Default' ? template.defaultVersion : /^\d+$/.test(v) ? Number(v) : NaN;
    const data = template.versions[version - 1];
    if (!data) {
      throw new Ec2Error('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${v} for launch template ID ${template.id}.`);
    }
    return { template, version, data };
  }
}
