import { Duration } from 'aws-cdk-lib/core';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import type { Parameters } from '../parameters';

export interface EdgeProps {
  params: Parameters;
  vpc: ec2.IVpc;
  /** The web tier's hosts (their security group) and port. */
  webHosts: ec2.IConnectable;
  webPort: number;
  /** Longest a request may stay open: the classic synchronous upload waits for its result. */
  idleTimeout: Duration;
}

/**
 * The only way in from the internet: an HTTPS Application Load Balancer (the ACM
 * certificate of DomainName; TLS 1.2 or newer) that forwards to the web tier, and
 * HTTP on port 80 that only redirects to HTTPS. Both are open to WebAllowedCidr; the
 * control hosts admit the load balancer alone, on the web tier's port. The web tier
 * trusts exactly this one proxy hop for the client address (X-Forwarded-For).
 */
export class Edge extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The web tiers: the control hosts' Auto Scaling group registers its instances here. */
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly securityGroup: ec2.SecurityGroup;
  readonly httpsListener: elbv2.ApplicationListener;
  readonly httpListener: elbv2.ApplicationListener;

  constructor(scope: Construct, id: string, props: EdgeProps) {
    super(scope, id);
    const { params } = props;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'load balancer: HTTPS (and HTTP, redirected) from WebAllowedCidr',
      allowAllOutbound: false,
    });
    const clients = ec2.Peer.ipv4(params.webAllowedCidr.valueAsString);
    this.securityGroup.addIngressRule(clients, ec2.Port.tcp(443), 'HTTPS');
    this.securityGroup.addIngressRule(clients, ec2.Port.tcp(80), 'HTTP, redirected to HTTPS');

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      idleTimeout: props.idleTimeout,
      // Requests with header fields HTTP does not allow never reach the app.
      dropInvalidHeaderFields: true,
    });
    // The load balancer reaches the web tier on its port: egress here, ingress on the host.
    this.loadBalancer.connections.allowTo(props.webHosts, ec2.Port.tcp(props.webPort), 'load balancer to the web tier');

    this.httpsListener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(params.certificateArn.valueAsString)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      // The rules above say who may connect; CDK's default would open it to 0.0.0.0/0.
      open: false,
    });
    // Instances join and leave with the Auto Scaling group (its TargetGroupARNs), in both AZs.
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'WebTier', {
      vpc: props.vpc,
      port: props.webPort,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.INSTANCE,
      healthCheck: { path: '/health', healthyHttpCodes: '200', interval: Duration.seconds(15), healthyThresholdCount: 2 },
      deregistrationDelay: Duration.seconds(30),
    });
    this.httpsListener.addTargetGroups('WebTier', { targetGroups: [this.targetGroup] });
    this.httpListener = this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
    });
  }
}
