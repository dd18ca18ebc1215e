import { EC2Client, paginateDescribeInstances, type Instance } from '@aws-sdk/client-ec2';

/** Every instance an EC2 endpoint (the stand-in, say) shows a client: DescribeInstances without filters, every page. */
export async function describeAllInstances(ec2: EC2Client): Promise<Instance[]> {
  const instances: Instance[] = [];
  for await (const page of paginateDescribeInstances({ client: ec2 }, {})) {
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
  }
  return instances;
}
