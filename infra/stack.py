"""The SGraph Send stack: WebSocket API, four Lambdas (three for the API, one deleting expired
transfers), connection table, fallback bucket, the hosted page (CloudFront), optional coturn,
dashboard and alarms."""

from __future__ import annotations

import json
from pathlib import Path

import jsii
from aws_cdk import (
    CfnElement,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Tags,
)
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from . import nag
from .buckets import private_bucket
from .bundling import LambdaPlatform, lambda_code
from .cleanup import wire_cleanup
from .coturn import CoturnServer
from .headers import security_headers
from .monitoring import Monitoring
from .settings import StackSettings
from .web import WebHosting

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Python 3.12 on Graviton. arm64: cheaper per GB-second and at least as fast for
#: this I/O-bound work; the asset is pure Python and the Powertools layer ships for it.
#: 3.12 rather than the newest runtime: see the AwsSolutions-L1 acknowledgement.
PLATFORM = LambdaPlatform(python_version="3.12", architecture="arm64")

#: Message actions (``$request.body.action``) routed to the relay besides ``$default``.
RELAY_ACTIONS: tuple[str, ...] = (
    "hello", "signal", "ping", "ice-servers",
    "upload-start", "upload-parts", "upload-complete", "download-urls",
    "nameplate",  # spoken codes (lambdas/signalling/nameplates.py)
    "transfer-limits", "download-done", "revoke",  # lambdas/signalling/control_api.py
)

ROOM_INDEX_NAME = "room-index"
TRANSFER_PREFIX = "transfers/"
SERVICE_NAME = "sgraph-send"
LOG_RETENTION = logs.RetentionDays.TWO_WEEKS

# Access log fields. Deliberately no $context.identity.sourceIp: the service keeps
# as little metadata about who talks to whom as it can run with. No request header
# or query string either: the room key travels in Sec-WebSocket-Protocol and must
# never be logged (tests/infra asserts the format holds only these $context values).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "connectionId": "$context.connectionId",
    "status": "$context.status",
    "error": "$context.error.message",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "integrationLatency": "$context.integrationLatency",
}


def _ack(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children), with its reason."""
    nag.ack(scope, rule, reason)


class SendStack(Stack):
    """Everything SGraph Send needs in one AWS account and region."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        settings = StackSettings.from_context(self.node)
        self.settings = settings
        self.roles: dict[str, iam.Role] = {}
        """Execution role of each function, by name (Connect, Disconnect, Relay)."""
        Tags.of(self).add("project", SERVICE_NAME)

        self.table = self._table()
        self.bucket = self._bucket(settings)
        # TURN: the operator's own servers (turnUrls) or the stack's coturn; either way the
        # shared secret is an SSM SecureString the operator puts (docs/deploy.md).
        self.turn_secret: ssm.IStringParameter | None = None
        if settings.turn_enabled:
            # A SecureString cannot be created by CloudFormation; the template holds only
            # its name. With the default aws/ssm key no KMS grant is needed: that key's
            # policy admits callers in the account through SSM.
            self.turn_secret = ssm.StringParameter.from_secure_string_parameter_attributes(
                self,
                "TurnSecret",
                parameter_name=settings.turn_secret_parameter,
            )
        self.coturn: CoturnServer | None = None
        if settings.coturn:
            assert self.turn_secret is not None
            self.coturn = CoturnServer(
                self, "Coturn", secret_parameter=self.turn_secret,
                instance_type=settings.turn_instance_type, log_retention=LOG_RETENTION,
                max_bps=settings.turn_max_bps,
            )
        turn_urls = self.coturn.turn_urls if self.coturn else list(settings.turn_urls)

        code = lambda_code(PROJECT_ROOT, PLATFORM)
        powertools = self._powertools_layer(settings)

        common_env = {
            "TABLE_NAME": self.table.table_name,
            "ROOM_INDEX_NAME": ROOM_INDEX_NAME,
            "MAX_RECEIVERS": str(settings.max_receivers),
            "CONNECTION_TTL_SECONDS": str(settings.connection_ttl_seconds),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
        }
        # The daily salt of client-address hashes derives from this secret, which the
        # table never holds: reading the table does not let anyone test addresses.
        # CloudFormation resolves it at deploy time; the template holds a reference.
        hash_secret = secretsmanager.Secret(
            self,
            "ClientHashSecret",
            description="SGraph Send: derives the daily salt of client-address hashes",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        _ack(
            hash_secret,
            "AwsSolutions-SMG4",
            "No rotation: the secret only salts the client-address hashes of the connect rate "
            "limit, which are re-salted every day anyway; rotating it would change nothing "
            "a reader of the table could learn.",
        )
        self.connect_fn = self._function(
            "Connect",
            "lambdas.connect.handler",
            code,
            powertools,
            {
                **common_env,
                "CONNECT_RATE_PER_MINUTE": str(settings.connect_rate_per_minute),
                "MAX_CONNECTIONS_PER_ADDRESS": str(settings.max_connections_per_address),
                "CLIENT_HASH_SECRET": hash_secret.secret_value.unsafe_unwrap(),
            },
        )
        self.disconnect_fn = self._function(
            "Disconnect",
            "lambdas.disconnect.handler",
            code,
            powertools,
            common_env,
        )
        relay_env = {
            **common_env,
            "MESSAGE_RATE_PER_MINUTE": str(settings.message_rate_per_minute),
            "STUN_URLS": ",".join(settings.stun_urls),
            "TURN_URLS": ",".join(turn_urls),
            "TURN_CREDENTIAL_TTL_SECONDS": str(settings.turn_credential_ttl_seconds),
            "BUCKET_NAME": self.bucket.bucket_name,
            # the relay refuses URLs for transfers older than the lifecycle rule deletes
            "TRANSFER_EXPIRY_DAYS": str(settings.transfer_expiry_days),
            "MAX_TRANSFER_BYTES": str(settings.max_transfer_bytes),
        }
        if settings.turn_enabled:
            relay_env["TURN_SECRET_PARAMETER"] = settings.turn_secret_parameter
        self.relay_fn = self._function(
            "Relay", "lambdas.relay.handler", code, powertools, relay_env
        )
        # deletion at expiry by the backend: the table's TTL stream -> this function
        self.cleanup_fn = self._function(
            "Cleanup", "lambdas.cleanup.handler", code, powertools,
            {
                "TABLE_NAME": self.table.table_name,
                "BUCKET_NAME": self.bucket.bucket_name,
                "TRANSFER_EXPIRY_DAYS": str(settings.transfer_expiry_days),
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
            },
        )

        self.api, self.stage = self._websocket_api(settings)

        # Least privilege, by grants only.
        for fn in (self.connect_fn, self.disconnect_fn, self.relay_fn):
            self.table.grant_read_write_data(fn)
        # $connect asks GetConnection whether a slot's holder still exists (a holder that
        # vanished without $disconnect would otherwise block the room for two hours).
        self.api.grant_manage_connections(self.connect_fn)
        self.api.grant_manage_connections(self.disconnect_fn)
        self.api.grant_manage_connections(self.relay_fn)
        # The relay presigns S3 URLs (fallback path); a presigned URL can do no more
        # than its signer may, so the grant is limited to the transfers/ prefix.
        self.bucket.grant_read_write(self.relay_fn, f"{TRANSFER_PREFIX}*")
        if self.turn_secret is not None:
            self.turn_secret.grant_read(self.relay_fn)

        self._acknowledge_iam_findings()
        wire_cleanup(self.cleanup_fn, self.roles["Cleanup"], self.table, self.bucket,
                     TRANSFER_PREFIX, self._logical_id(self.table),
                     self._logical_id(self.bucket))

        # The page: its CSP lets it connect to this API and this bucket only.
        headers = security_headers(
            self.stage.url,
            [f"https://{self.bucket.bucket_regional_domain_name}",
             f"https://{self.bucket.bucket_domain_name}"],
        )
        self.web = WebHosting(
            self,
            "Web",
            settings=settings,
            headers=headers,
            server_url=self.stage.url,
            web_dir=PROJECT_ROOT / "web",
            vectors=PROJECT_ROOT / "docs" / "test-vectors.json",
            log_retention=LOG_RETENTION,
        )
        self.web.allow_cors(self.bucket, settings.cors_allowed_origins)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions={"Connect": self.connect_fn, "Disconnect": self.disconnect_fn,
                       "Relay": self.relay_fn,
                       # a failing cleanup leaves expired files stored: someone must know
                       "Cleanup": self.cleanup_fn},
            api=self.api,
            stage=self.stage,
            table=self.table,
            extra_alarms=[self.coturn.status_alarm] if self.coturn else [],
            alarm_email=settings.alarm_email,
        )

        CfnOutput(
            self,
            "WebSocketUrl",
            value=self.stage.url,
            description="wss:// signalling URL: point the CLI and the web page at it",
        )
        CfnOutput(
            self,
            "WebUrl",
            value=self.web.url,
            description="The page: open it to send; links are this address plus #<code>",
        )
        CfnOutput(
            self,
            "BucketName",
            value=self.bucket.bucket_name,
            description="S3 bucket holding encrypted fallback chunks under transfers/",
        )

    # ------------------------------------------------------------------ data

    def _table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "ConnectionTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="ttl",
            # TTL deletions of transfer items reach the cleanup function (infra/cleanup.py)
            stream=dynamodb.StreamViewType.OLD_IMAGE,
            # Ephemeral state: connections (2 h), and the rules of stored transfers, which
            # end with the transfer (at most TRANSFER_EXPIRY_DAYS, then 30 days as a reason).
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=False,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        table.add_global_secondary_index(
            index_name=ROOM_INDEX_NAME,
            partition_key=dynamodb.Attribute(name="room_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        _ack(
            table,
            "AwsSolutions-DDB3",
            "Point-in-time recovery is off on purpose: items are live WebSocket connections "
            "and rate-limit counters that expire by TTL within 2 hours, and the rules of "
            "stored transfers that end with them; a restored item would name connections API "
            "Gateway has already closed or transfers already deleted, so a backup could only "
            "do harm.",
        )
        return table

    def _bucket(self, settings: StackSettings) -> s3.Bucket:
        bucket = private_bucket(
            self,
            "TransferBucket",
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-transfers",
                    prefix=TRANSFER_PREFIX,
                    expiration=Duration.days(settings.transfer_expiry_days),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-multipart-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            # CORS (the page's origin) is set by WebHosting.allow_cors, after the page exists.
            # Objects are ciphertext that expires within days; keeping the bucket on
            # `cdk destroy` avoids the auto-delete custom resource and its extra Lambda.
            removal_policy=RemovalPolicy.RETAIN,
        )
        _ack(
            bucket,
            "AwsSolutions-S1",
            "No server access logs: objects are end-to-end encrypted chunks that expire in "
            f"{settings.transfer_expiry_days} days, and per-request logs (client IP, object "
            "key, time) are exactly the who-sent-to-whom metadata a zero-knowledge service "
            "should not accumulate. CloudTrail data events can be enabled for an investigation.",
        )
        return bucket

    # --------------------------------------------------------------- compute

    def _powertools_layer(self, settings: StackSettings) -> lambda_.ILayerVersion:
        # The AWS-managed layer, resolved at deploy time from its public SSM parameter
        # (a CloudFormation parameter of type AWS::SSM::Parameter::Value<String>): synth
        # needs no credentials, every deploy picks up the current v3 release for this
        # region, Python version and architecture, and Powertools stays out of our asset
        # (with aws-xray-sdk it would outweigh our own code many times over). Pin a version with
        # `-c powertoolsVersion=3.x.y`. The layer also carries pydantic (for its Parser
        # utility); the handlers do not use it, and the import-closure test in
        # tests/infra/test_bundling.py fails if they start to.
        parameter = (
            f"/aws/service/powertools/python/{PLATFORM.architecture}/"
            f"python{PLATFORM.python_version}/{settings.powertools_version}"
        )
        arn = ssm.StringParameter.value_for_string_parameter(self, parameter)
        return lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", arn)

    def _function(
        self,
        name: str,
        handler: str,
        code: lambda_.Code,
        powertools: lambda_.ILayerVersion,
        environment: dict[str, str],
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An explicit role instead of the default one: the default attaches the
        # AWSLambdaBasicExecutionRole managed policy (logs on every group in the account);
        # this one may write to its own log group only.
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"SGraph Send {name.lower()} function",
        )
        log_group.grant_write(role)
        self.roles[name] = role
        fn = lambda_.Function(
            self,
            f"{name}Function",
            runtime=PLATFORM.runtime,
            architecture=PLATFORM.lambda_architecture,
            handler=handler,
            code=code,
            layers=[powertools],
            role=role,
            log_group=log_group,
            environment=environment,
            memory_size=256,
            timeout=Duration.seconds(10),
            tracing=lambda_.Tracing.ACTIVE,
            description=f"SGraph Send {handler}",
        )
        _ack(
            fn,
            "AwsSolutions-L1",
            f"Python {PLATFORM.python_version} is a supported Lambda runtime chosen on purpose: it "
            "is the release closest to the 3.11+ interpreters the handlers are tested on, and "
            "the Powertools layer parameter is selected for it. Bump PLATFORM in "
            "infra/stack.py to move the runtime and the layer together.",
        )
        return fn

    # ------------------------------------------------------------------- api

    def _websocket_api(
        self,
        settings: StackSettings,
    ) -> tuple[apigwv2.WebSocketApi, apigwv2.WebSocketStage]:
        relay = integrations.WebSocketLambdaIntegration("RelayIntegration", self.relay_fn)
        api = apigwv2.WebSocketApi(
            self,
            "SignalApi",
            api_name=f"{SERVICE_NAME}-signal",
            description="SGraph Send signalling relay",
            route_selection_expression="$request.body.action",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(
                    "ConnectIntegration", self.connect_fn
                ),
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(
                    "DisconnectIntegration", self.disconnect_fn
                ),
            ),
            default_route_options=apigwv2.WebSocketRouteOptions(integration=relay),
        )
        for action in RELAY_ACTIONS:
            api.add_route(action, integration=relay)

        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=api,
            stage_name=settings.stage_name,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit,
                burst_limit=settings.throttle_burst_limit,
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":"))),
            ),
        )
        if settings.create_api_gateway_log_role:
            stage.node.add_dependency(self._api_gateway_account_log_role())

        for route in api.node.find_all():
            if isinstance(route, apigwv2.CfnRoute):
                _ack(
                    route,
                    "AwsSolutions-APIG4",
                    "No IAM/Cognito/Lambda authorizer: SGraph Send has no accounts by design. "
                    "A connection is authorised by capability: $connect requires a 128-bit room id "
                    "derived from the link secret and a reconnect token, checked by the connect "
                    "handler; API Gateway allows authorizers on $connect only, and messages on an "
                    "open connection are accepted only within that connection's room, with signed "
                    "payloads the peers verify end to end.",
                )
        return api, stage

    def _api_gateway_account_log_role(self) -> apigw.CfnAccount:
        """The account-level role API Gateway needs before a stage may log to CloudWatch."""
        role = iam.Role(
            self,
            "ApiGatewayLogRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                ),
            ],
        )
        # The setting is per account and region and outlives this stack; deleting the
        # role with the stack would silently break logging of every other API here.
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        _ack(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "This is the AWS-maintained policy API Gateway documents for its account-wide "
            "CloudWatch role; API Gateway creates log groups named after API and stage ids at "
            "run time, so a narrower hand-written policy would have to use the same wildcards.",
        )
        return apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)

    # ------------------------------------------------------------------- iam

    def _logical_id(self, construct: Construct) -> str:
        cfn = construct.node.default_child
        assert isinstance(cfn, CfnElement)
        return str(self.resolve(self.get_logical_id(cfn)))

    def _acknowledge_iam_findings(self) -> None:
        """Acknowledge the wildcards the grants produce, each on the one role it applies to.

        cdk-nag 3 names every wildcard separately (``IAM5[<what>]``), so nothing here can
        cover a wildcard that a later change adds: that one fails the synth until it is
        looked at and acknowledged with its own reason.
        """
        table = self._logical_id(self.table)
        api = self._logical_id(self.api)
        bucket = self._logical_id(self.bucket)
        for name, role in self.roles.items():
            if name == "Cleanup":
                continue  # its own findings, acknowledged in infra/cleanup.py
            _ack(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "Only xray:PutTraceSegments and xray:PutTelemetryRecords (added by active "
                "tracing) use Resource '*': X-Ray supports no resource-level permissions.",
            )
            _ack(
                role,
                f"AwsSolutions-IAM5[Resource::<{table}.Arn>/index/*]",
                "From grant_read_write_data: the functions query the room-index GSI; the "
                "wildcard covers only the indexes of this one table.",
            )
        # cdk-nag prints pseudo parameters as <AWS::...> and known values literally
        # (the CLI passes the account and region it knows; partition literals follow).
        partition, region, account = nag.pseudo_parameters(self)
        connections_arn = (
            f"arn:{partition}:execute-api:{region}:{account}:<{api}>/*/*/@connections/*"
        )
        for name in ("Connect", "Disconnect", "Relay"):
            _ack(
                self.roles[name],
                f"AwsSolutions-IAM5[Resource::{connections_arn}]",
                "From grant_manage_connections: connection ids exist only at run time, so "
                "the narrowest ARN is this API's @connections path; the function asks about, "
                "posts to and closes connections of its own API only.",
            )
        relay_role = self.roles["Relay"]
        _ack(
            relay_role,
            f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{TRANSFER_PREFIX}*]",
            "Fallback object keys are made per transfer at run time; the grant is confined "
            f"to the {TRANSFER_PREFIX} prefix of this one bucket, which is all the relay "
            "presigns for.",
        )
        for action in (
            "s3:Abort*",
            "s3:DeleteObject*",
            "s3:GetBucket*",
            "s3:GetObject*",
            "s3:List*",
        ):
            _ack(
                relay_role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "Action groups of bucket.grant_read_write, which the relay needs to presign "
                "multipart uploads (create, upload part, list parts, complete, abort), "
                "downloads, and the clean-up of a finished transfer; confined to this "
                f"bucket and its {TRANSFER_PREFIX} prefix.",
            )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """A plain ``IAccessLogSettings`` (an interface, not a struct, so no keyword form)."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        """Where the access logs go."""
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        """One JSON object per request."""
        return self._format
