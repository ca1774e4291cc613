"""Optional TURN server (`-c turn=coturn`): coturn on a small Graviton instance.

One instance in a one-subnet VPC with an Elastic IP; 3478 UDP/TCP and 5349 TLS
open, plus the relay port range; no SSH (Session Manager only, IMDSv2 only). At
boot the instance installs Ubuntu's coturn, reads the TURN REST shared secret
from the SSM SecureString the relay also reads, and writes the `turnserver.conf`
that `infra/turnserver_conf.py` renders (the same function the local stack's
coturn uses). The relay hands out `turn:<Elastic IP>:3478` over UDP and TCP.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from . import nag
from .turnserver_conf import TurnServerConfig, render_turnserver_conf

#: Ubuntu 24.04 LTS for arm64 (it packages coturn; Amazon Linux does not), resolved at
#: deploy time from Canonical's public SSM parameter, so synth needs no account.
UBUNTU_AMI_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
)
TURN_PORT = 3478
TURNS_PORT = 5349
RELAY_PORTS = (49152, 65535)
SECRET_PLACEHOLDER = "@TURN_SECRET@"
PRIVATE_IP_PLACEHOLDER = "@PRIVATE_IP@"
CERT, PKEY = "/etc/coturn/turn-cert.pem", "/etc/coturn/turn-key.pem"


def coturn_config(public_ip: str, max_bps: int) -> TurnServerConfig:
    """Production's coturn settings on EC2 (1:1 NAT behind the Elastic IP), capped at
    `max_bps` per session (the `turnMaxBps` setting)."""
    return TurnServerConfig(
        max_bps=max_bps,
        static_auth_secret=SECRET_PLACEHOLDER,
        external_ip=f"{public_ip}/{PRIVATE_IP_PLACEHOLDER}",
        listening_port=TURN_PORT,
        tls_listening_port=TURNS_PORT,
        min_port=RELAY_PORTS[0],
        max_port=RELAY_PORTS[1],
        cert_file=CERT,
        pkey_file=PKEY,
    )


class CoturnServer(Construct):
    """The instance, its network, its Elastic IP and its status-check alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_parameter: ssm.IStringParameter,
        instance_type: str,
        log_retention: logs.RetentionDays,
        max_bps: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC,
                                        cidr_mask=24),
            ],
            # no custom resource to strip the default group: nothing uses it
            restrict_default_security_group=False,
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=log_retention,
                                  removal_policy=RemovalPolicy.DESTROY)
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=self.vpc, allow_all_outbound=True,
            description="coturn: STUN/TURN 3478 UDP/TCP, TURN-TLS 5349, relay ports",
        )
        for peer in (ec2.Peer.any_ipv4(), ec2.Peer.any_ipv6()):
            self.security_group.add_ingress_rule(peer, ec2.Port.udp(TURN_PORT), "STUN/TURN UDP")
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(TURN_PORT), "STUN/TURN TCP")
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(TURNS_PORT), "TURN over TLS")
            self.security_group.add_ingress_rule(
                peer, ec2.Port.udp_range(*RELAY_PORTS), "TURN relay ports"
            )
        nag.ack(
            self.security_group,
            "AwsSolutions-EC23",
            "A TURN server must accept STUN/TURN and relayed traffic from any address: its "
            "clients are browsers and CLIs behind arbitrary NATs. Only the TURN ports are "
            "open (no SSH); coturn refuses unauthenticated allocations (TURN REST "
            "credentials) and relays to no private, loopback or link-local peer.",
        )
        self.eip = ec2.CfnEIP(self, "Address", domain="vpc")
        self.public_ip = self.eip.attr_public_ip

        role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="SGraph Send coturn instance",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore"),
            ],
        )
        secret_parameter.grant_read(role)
        nag.ack(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "AmazonSSMManagedInstanceCore]",
            "Session Manager is the only way into the instance (no SSH, no key pair); this "
            "AWS-maintained policy is what the SSM agent needs to register and open sessions.",
        )

        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.from_ssm_parameter(
                UBUNTU_AMI_PARAMETER, os=ec2.OperatingSystemType.LINUX
            ),
            security_group=self.security_group,
            role=role,
            require_imdsv2=True,
            detailed_monitoring=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/sda1",
                    volume=ec2.BlockDeviceVolume.ebs(8, encrypted=True,
                                                     volume_type=ec2.EbsDeviceVolumeType.GP3),
                )
            ],
            user_data=self._user_data(secret_parameter.parameter_name, max_bps),
            user_data_causes_replacement=True,
        )
        nag.ack(
            self.instance,
            "AwsSolutions-EC29",
            "One stateless TURN relay: its configuration is rebuilt from user data and SSM "
            "at every boot, so termination protection or an Auto Scaling group would add "
            "nothing a redeploy does not; the status-check alarm reports a failure.",
        )
        ec2.CfnEIPAssociation(self, "Association", allocation_id=self.eip.attr_allocation_id,
                              instance_id=self.instance.instance_id)

        self.status_alarm = cloudwatch.Alarm(
            self,
            "StatusCheckAlarm",
            alarm_description="coturn instance failed an EC2 status check",
            metric=cloudwatch.Metric(
                namespace="AWS/EC2",
                metric_name="StatusCheckFailed",
                dimensions_map={"InstanceId": self.instance.instance_id},
                statistic="Maximum",
                period=Duration.minutes(1),
            ),
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

    @property
    def turn_urls(self) -> list[str]:
        """What the relay hands out (the TLS listener is there for clients that pin it)."""
        return [f"turn:{self.public_ip}:{TURN_PORT}?transport=udp",
                f"turn:{self.public_ip}:{TURN_PORT}?transport=tcp"]

    def _user_data(self, parameter_name: str, max_bps: int) -> ec2.UserData:
        config = render_turnserver_conf(coturn_config(self.public_ip, max_bps))
        region = Stack.of(self).region
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            "set -euo pipefail",
            "export DEBIAN_FRONTEND=noninteractive",
            "apt-get update -q",
            "apt-get install -y -q coturn openssl",
            "snap install aws-cli --classic",
            # the private address, for external-ip=<Elastic IP>/<private> (IMDSv2)
            'IMDS=$(curl -sfX PUT http://169.254.169.254/latest/api/token '
            '-H "X-aws-ec2-metadata-token-ttl-seconds: 60")',
            'PRIVATE_IP=$(curl -sf -H "X-aws-ec2-metadata-token: $IMDS" '
            "http://169.254.169.254/latest/meta-data/local-ipv4)",
            # the shared secret stays off the template: read from SSM at boot
            f"TURN_SECRET=$(/snap/bin/aws ssm get-parameter --region {region} "
            f"--with-decryption --name {parameter_name} --query Parameter.Value --output text)",
            "install -d -o turnserver -g turnserver -m 750 /etc/coturn",
            # a self-signed certificate for the TLS listener (clients pin nothing here)
            f"openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=sgraph-send-turn "
            f"-keyout {PKEY} -out {CERT}",
            f"chown turnserver:turnserver {PKEY} {CERT}",
            "cat > /etc/turnserver.conf.in <<'SGRAPH_TURN_CONF'",
            config.rstrip("\n"),
            "SGRAPH_TURN_CONF",
            # substitute without a shell or sed seeing the secret's characters
            "TURN_SECRET=\"$TURN_SECRET\" PRIVATE_IP=\"$PRIVATE_IP\" python3 -c '"
            "import os; t = open(\"/etc/turnserver.conf.in\").read(); "
            f"t = t.replace(\"{SECRET_PLACEHOLDER}\", os.environ[\"TURN_SECRET\"]); "
            f"t = t.replace(\"{PRIVATE_IP_PLACEHOLDER}\", os.environ[\"PRIVATE_IP\"]); "
            "open(\"/etc/turnserver.conf\", \"w\").write(t)'",
            "rm /etc/turnserver.conf.in",
            "chown root:turnserver /etc/turnserver.conf && chmod 640 /etc/turnserver.conf",
            "systemctl enable coturn",
            "systemctl restart coturn",
        )
        return user_data

