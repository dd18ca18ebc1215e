import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { synthesise } from '../main';
import { IcsStack } from './stack';
import type { Template as Cfn } from './template-values';

/**
 * Test support: the stack synthesised by `npm run synth`'s own code into a temporary cloud
 * assembly (`directory`), and helpers to read its IAM.
 */
export function synthStack(stackName = 'ics') {
  // The default stack once per test file: every suite reads it, none changes it.
  if (stackName === 'ics') return (defaultStack ??= synth(stackName));
  return synth(stackName);
}

let defaultStack: ReturnType<typeof synth> | undefined;

function synth(stackName: string): { stack: IcsStack; template: Template; json: Cfn; directory: string } {
  // Only the stack name: synthesis must need nothing else from the environment (no AWS account, no credentials).
  const { stack, directory } = synthesise(mkdtempSync(join(tmpdir(), 'cdk-out-')), { ICS_STACK_NAME: stackName }, false);
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  // The assembly is already written: fromStack reads the synthesis made above, it does not synthesise again.
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Cfn, directory };
}

export type Statement = { Sid: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };

/** The logical id of a construct's resource as deployed (overrides included). */
export const logicalIdOf = (stack: IcsStack, construct: object): string =>
  stack.resolve((((construct as { node: { defaultChild?: unknown } }).node.defaultChild ?? construct) as { logicalId: string }).logicalId) as string;

/** The inline policy statements of a role, by Sid. */
export function statementsOf(json: Cfn, roleLogicalId: string): Record<string, Statement> {
  const policies = Object.values(json.Resources).filter(
    (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties?.['Roles']) === JSON.stringify([{ Ref: roleLogicalId }]),
  );
  if (policies.length !== 1) throw new Error(`${roleLogicalId} has ${policies.length} policies`);
  const doc = policies[0].Properties?.['PolicyDocument'] as { Statement: Statement[] };
  return Object.fromEntries(doc.Statement.map((s) => [s.Sid, s]));
}

export const actionsOf = (s: Statement) => [s.Action].flat().sort();
