"""The hosted page: a private bucket behind CloudFront, `web/` and a generated config.json.

The page's security headers come from `infra/headers.py` (the local stack's web
server sends the same ones); `config.json` is written at deploy time from the
stack's own values, in the shape `devstack/web.py` serves locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import custom_resources as cr
from constructs import Construct

from . import nag
from .buckets import private_bucket
from .headers import SecurityHeaders
from .settings import StackSettings

#: Files the page needs besides `web/`: the protocol's vectors it checks itself against.
CONFIG_FILE = "config.json"
VECTORS_FILE = "test-vectors.json"


def page_config(server_url: str, page_url: str) -> dict[str, str]:
    """The page's `config.json`: where it signals, and its own canonical address.

    `devstack/web.py` serves the same keys; `transfer_core/discovery.py` reads them.
    """
    return {"server": server_url, "page": page_url}


class WebHosting(Construct):
    """Private bucket + CloudFront (OAC, HTTPS, HTTP/2 and 3, compression, headers policy)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        headers: SecurityHeaders,
        server_url: str,
        web_dir: Path,
        vectors: Path,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_retention = log_retention
        self.bucket = private_bucket(
            self,
            "Bucket",
            # The deployment below empties it when the stack is deleted.
            removal_policy=RemovalPolicy.DESTROY,
        )
        nag.ack(
            self.bucket,
            "AwsSolutions-S1",
            "The web bucket holds only the public page's static files, written by the deploy "
            "and read by CloudFront through origin access control; per-request logs of it "
            "would record who opened the page (client IPs), which this service avoids keeping.",
        )
        self.policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="SGraph Send page: CSP and security headers (infra/headers.py)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=headers.content_security_policy, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption(headers.frame_options),
                    override=True,
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(headers.hsts_max_age_seconds),
                    include_subdomains=True,
                    override=True,
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value=headers.permissions_policy,
                        override=True,
                    ),
                ]
            ),
        )
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)
            if settings.certificate_arn
            else None
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="SGraph Send page",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # Europe and North America edges only; the page is a few small files.
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            domain_names=[settings.domain_name] if settings.domain_name else None,
            certificate=certificate,
            # settable only with an own certificate (cloudfront.net's policy is fixed)
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None
            ),
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                # Nothing is served over plain HTTP: it only redirects (and HSTS ends that).
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                compress=True,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.policy,
            ),
        )
        self._acknowledge_distribution(settings)
        host = settings.domain_name or self.distribution.distribution_domain_name
        self.url = f"https://{host}/"
        """The page's address (``WebUrl``); links are this plus ``#<code>``."""
        self.origin = f"https://{host}"

        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(web_dir)),
                s3deploy.Source.json_data(CONFIG_FILE, page_config(server_url, self.url)),
                s3deploy.Source.data(VECTORS_FILE, vectors.read_text()),
            ],
            # a new deploy is visible at once (config.json changes with the stack)
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
            retain_on_delete=False,
            memory_limit=256,
            log_group=logs.LogGroup(
                self, "DeployLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        self._acknowledge_deployment()

    def allow_cors(self, bucket: s3.Bucket, extra_origins: tuple[str, ...]) -> None:
        """Let the page (and ``extra_origins``) use presigned URLs on ``bucket`` from a browser.

        Set after deploy by one S3 call, not as the bucket's own property: the page's
        origin is CloudFront's generated name, and the page's CSP names the bucket, so
        bucket -> distribution -> headers policy -> bucket would be a dependency cycle.
        """
        allowed = [self.origin, *extra_origins]
        call = cr.AwsSdkCall(
            service="S3",
            action="putBucketCors",
            parameters={
                "Bucket": bucket.bucket_name,
                "CORSConfiguration": {
                    "CORSRules": [
                        {
                            "AllowedMethods": ["PUT", "GET", "HEAD"],
                            "AllowedOrigins": allowed,
                            "AllowedHeaders": ["*"],
                            # the page reads each part's ETag to complete a multipart upload
                            "ExposeHeaders": ["ETag"],
                            "MaxAgeSeconds": 3600,
                        }
                    ]
                },
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"{bucket.bucket_name}-cors"),
        )
        self.cors = cr.AwsCustomResource(
            self,
            "TransferBucketCors",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["s3:PutBucketCORS"], resources=[bucket.bucket_arn]),
            ]),
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(
                self, "CorsLogs", retention=self._log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        stack = Stack.of(self)
        provider = stack.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
        if provider is not None:
            nag.ack(
                provider,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's AwsCustomResource provider (one S3 call at deploy time: the transfer "
                "bucket's CORS rule) writes its logs with the AWS-maintained basic execution "
                "policy; it runs only during deploys.",
            )

    # ---------------------------------------------------------------- cdk-nag

    def _acknowledge_distribution(self, settings: StackSettings) -> None:
        nag.ack(
            self.distribution,
            "AwsSolutions-CFR1",
            "No geo restriction: SGraph Send is for anyone who is sent a link; the page holds "
            "no data (files travel end-to-end encrypted), so location says nothing about risk.",
        )
        nag.ack(
            self.distribution,
            "AwsSolutions-CFR2",
            "No WAF web ACL: the distribution serves a handful of static, cacheable files "
            "with no forms and no API behind it; a web ACL (billed per month and per request) "
            "would guard nothing the origin access control and the CSP do not already.",
        )
        nag.ack(
            self.distribution,
            "AwsSolutions-CFR3",
            "No CloudFront access logs: they would record the IP address of everyone who "
            "opens a share link (the metadata a zero-knowledge service should not keep); "
            "CloudWatch metrics of the distribution remain for operations.",
        )
        if not settings.domain_name:
            nag.ack(
                self.distribution,
                "AwsSolutions-CFR4",
                "Without a custom domain CloudFront serves its *.cloudfront.net certificate, "
                "whose viewer TLS policy cannot be raised; with -c domainName and "
                "-c certificateArn the distribution requires TLSv1.2_2021.",
            )

    def _acknowledge_deployment(self) -> None:
        # BucketDeployment's singleton function lives at the stack's root.
        stack = Stack.of(self)
        handlers = [
            child for child in stack.node.children
            if child.node.id.startswith("Custom::CDKBucketDeployment")
        ]
        for handler in handlers:
            nag.ack(
                handler,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's BucketDeployment function (copies web/ and config.json to the web "
                "bucket at deploy time) logs with the AWS-maintained basic execution policy; "
                "it runs only during deploys.",
            )
            for action in ("s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*",
                           "s3:List*"):
                nag.ack(
                    handler,
                    f"AwsSolutions-IAM5[Action::{action}]",
                    "Action groups of the grants BucketDeployment makes itself: read the CDK "
                    "asset zip, write and prune the web bucket's files; confined to the asset "
                    "bucket's objects and this stack's web bucket.",
                )
            bucket_resource = cast(CfnElement, self.bucket.node.default_child)
            web_bucket = stack.resolve(stack.get_logical_id(bucket_resource))
            partition, region, account = nag.pseudo_parameters(stack)
            for resource, reason in (
                (f"arn:{partition}:s3:::cdk-hnb659fds-assets-{account}-{region}/*",
                 "The CDK bootstrap asset bucket, whose object keys are content hashes decided "
                 "at synth time; the function reads the page's asset zip from it."),
                (f"<{web_bucket}>.Arn>/*".replace(">.Arn>", ".Arn>"),
                 "Every object of the web bucket: the deployment writes web/ and config.json "
                 "and prunes files that are no longer part of the page."),
                ("*",
                 "cloudfront:CreateInvalidation and GetInvalidation, which BucketDeployment "
                 "grants on '*' to invalidate the page after each deploy."),
            ):
                nag.ack(handler, f"AwsSolutions-IAM5[Resource::{resource}]", reason + (
                    " Deploy-time only; CDK's own BucketDeployment policy."))
            nag.ack(
                handler,
                "AwsSolutions-L1",
                "CDK's BucketDeployment function uses the Python runtime its bundled AWS CLI "
                "layer is built for; it runs only during deploys, never on user requests.",
            )
