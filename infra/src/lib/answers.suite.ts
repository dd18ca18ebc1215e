import { heartbeatKey, attemptKey, resultKey } from '@app/contracts';
import { WORKER_INTERFACE_ENDPOINTS } from './constructs/worker-network';
import { ATTEMPT_PREFIX, HEARTBEAT_PREFIX } from './constructs/worker-template';
import { logicalIdOf, statementsOf, synthStack } from './synth-for-tests';

const { stack, template, json } = synthStack();
const id = (construct: object) => logicalIdOf(stack, construct);
const getAtt = (construct: object, attr = 'Arn') => ({ 'Fn::GetAtt': [id(construct), attr] });
const objects = (bucket: object, prefix = '') => ({ 'Fn::Join': ['', [getAtt(bucket), `/${prefix}*`]] });
const { storage, worker } = stack;

describe('workers cannot forge answers: results are written once', () => {
  const outputPolicy = () => {
    const [policy] = Object.values(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: id(storage.outputBucket) } } }));
    return policy['Properties'].PolicyDocument.Statement as Record<string, unknown>[];
  };

  it('every result key is under results/, the prefix the bucket policy guards', () => {
    expect(resultKey('0b7c5f9e-8a1d-4c3e-9f2a-1b2c3d4e5f60')).toBe('results/0b7c5f9e-8a1d-4c3e-9f2a-1b2c3d4e5f60.json');
  });

  it('the output bucket refuses, from anyone, a PutObject under results/ without If-None-Match', () => {
    expect(outputPolicy()).toContainEqual({
      Sid: 'ResultsAreWrittenOnce',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObject',
      Resource: objects(storage.outputBucket, 'results/'),
      // The header's condition key is absent from a request without it: such a write is refused.
      Condition: { Null: { 's3:if-none-match': 'true' } },
    });
  });

  it('a worker writes only results (conditional creates) and its heartbeat; it reads attempts; nothing else in the output bucket', () => {
    const st = statementsOf(json, id(worker.role));
    const onOutput = Object.values(st).filter((x) => JSON.stringify(x.Resource).includes(id(storage.outputBucket)));
    expect(Object.fromEntries(onOutput.map((x) => [x.Sid, [[x.Action].flat().sort(), x.Resource]]))).toEqual({
      Results: [['s3:GetObject', 's3:PutObject'], objects(storage.outputBucket, 'results/')],
      Heartbeats: [['s3:PutObject'], objects(storage.outputBucket, HEARTBEAT_PREFIX)],
      ReadAttempts: [['s3:GetObject'], objects(storage.outputBucket, ATTEMPT_PREFIX)],
      ListResults: [['s3:ListBucket'], getAtt(storage.outputBucket)],
    });
    // The prefixes are the ones the code writes to.
    expect(heartbeatKey('i-0123').startsWith(HEARTBEAT_PREFIX)).toBe(true);
    expect(attemptKey('x').startsWith(ATTEMPT_PREFIX)).toBe(true);
  });
});

describe('worker egress: only the AWS endpoints a worker calls', () => {
  const subnets = template.findResources('AWS::EC2::Subnet');
  const workerSubnetId = (worker.launchTemplate.launchTemplateData as { networkInterfaces: { subnetId: string }[] }).networkInterfaces[0].subnetId;
  const workerSubnet = Object.keys(subnets).find((k) => stack.resolve(workerSubnetId).Ref === k) as string;
  const routeTableOf = (subnet: string) =>
    Object.values(template.findResources('AWS::EC2::SubnetRouteTableAssociation')).find((a) => a['Properties'].SubnetId.Ref === subnet)?.['Properties'].RouteTableId;

  it('workers run in a subnet with no public addresses and no route out of the VPC', () => {
    expect(subnets[workerSubnet]['Properties'].MapPublicIpOnLaunch).toBe(false);
    const table = routeTableOf(workerSubnet);
    expect(table).toBeDefined();
    const routes = Object.values(template.findResources('AWS::EC2::Route')).filter((r) => JSON.stringify(r['Properties'].RouteTableId) === JSON.stringify(table));
    expect(routes).toEqual([]);
    const data = (json.Resources[id(worker.launchTemplate)].Properties as { LaunchTemplateData: { NetworkInterfaces: { AssociatePublicIpAddress: boolean }[] } }).LaunchTemplateData;
    expect(data.NetworkInterfaces[0].AssociatePublicIpAddress).toBe(false);
  });

  it('S3 through the gateway endpoint in the workers\' route table', () => {
    const gateways = Object.values(template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Gateway' } }));
    expect(gateways).toHaveLength(1);
    expect(JSON.stringify(gateways[0]['Properties'].ServiceName)).toContain('.s3');
    expect(gateways[0]['Properties'].RouteTableIds).toContainEqual(routeTableOf(workerSubnet));
  });

  it('SQS, SNS, EC2, CloudWatch Logs and CloudWatch through interface endpoints in the workers\' subnet, with private DNS, HTTPS from the VPC only', () => {
    const interfaces = Object.values(template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }));
    const services = interfaces.map((e) => JSON.stringify(e['Properties'].ServiceName).match(/\.([a-z0-9-]+)"\]\]\}$/)?.[1] ?? JSON.stringify(e['Properties'].ServiceName));
    expect(services.sort()).toEqual(['ec2', 'logs', 'monitoring', 'sns', 'sqs']);
    expect(Object.keys(WORKER_INTERFACE_ENDPOINTS)).toHaveLength(5);
    for (const e of interfaces) {
      expect(e['Properties']).toMatchObject({ PrivateDnsEnabled: true, SubnetIds: [{ Ref: workerSubnet }] });
    }
    for (const endpoint of Object.values(stack.workerNetwork.endpoints)) {
      const group = json.Resources[id(endpoint.connections.securityGroups[0])].Properties as { SecurityGroupIngress: Record<string, unknown>[] };
      expect(group.SecurityGroupIngress).toEqual([
        expect.objectContaining({ CidrIp: getAtt(stack.node.findChild('Vpc'), 'CidrBlock'), FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }),
      ]);
    }
  });

  it('the AMI builder gets a public subnet and the workers\' group (baking needs Node and npm from the internet)', () => {
    const outputs = (json as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs;
    const builder = (outputs['BuilderSubnetId'].Value as { Ref: string }).Ref;
    expect(subnets[builder]['Properties'].MapPublicIpOnLaunch).toBe(true);
    expect(outputs['WorkerSecurityGroupId'].Value).toEqual(getAtt(worker.securityGroup, 'GroupId'));
  });
});
