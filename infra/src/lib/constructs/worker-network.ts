import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/**
 * The AWS APIs a worker calls, each as an interface endpoint in the worker subnet: SQS
 * (launch, monitor and output queues), SNS (the output topic), EC2 (its own state tag),
 * CloudWatch Logs and CloudWatch (the agent's log shipping and the fleet-size metric). S3
 * comes through the VPC's gateway endpoint; the instance metadata service is link-local.
 * Nothing else is reachable from the worker subnet: no internet gateway route, no NAT.
 */
export const WORKER_INTERFACE_ENDPOINTS = {
  Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  Sns: ec2.InterfaceVpcEndpointAwsService.SNS,
  Ec2: ec2.InterfaceVpcEndpointAwsService.EC2,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  Monitoring: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
} as const;

export interface WorkerNetworkProps {
  vpc: ec2.IVpc;
  /** The isolated subnet the workers run in (the launch template's). */
  subnet: ec2.ISubnet;
}

/**
 * The endpoints live in the workers' subnet only (one AZ, as the workers): each interface
 * endpoint is billed per AZ. Private DNS makes the regional API names resolve to them for
 * the whole VPC, so the control hosts use them too; they admit HTTPS from the VPC alone.
 */
export class WorkerNetwork extends Construct {
  readonly endpoints: Record<keyof typeof WORKER_INTERFACE_ENDPOINTS, ec2.InterfaceVpcEndpoint>;

  constructor(scope: Construct, id: string, props: WorkerNetworkProps) {
    super(scope, id);
    const endpoint = (name: keyof typeof WORKER_INTERFACE_ENDPOINTS) =>
      new ec2.InterfaceVpcEndpoint(this, name, {
        vpc: props.vpc,
        service: WORKER_INTERFACE_ENDPOINTS[name],
        subnets: { subnets: [props.subnet] },
        privateDnsEnabled: true,
        // HTTPS from the VPC's own addresses, nothing from outside it.
        open: true,
      });
    this.endpoints = {
      Sqs: endpoint('Sqs'),
      Sns: endpoint('Sns'),
      Ec2: endpoint('Ec2'),
      Logs: endpoint('Logs'),
      Monitoring: endpoint('Monitoring'),
    };
  }
}
