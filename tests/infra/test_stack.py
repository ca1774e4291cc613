"""Properties of the synthesised template: routes, functions, table, bucket, stage, grants.

One synthesis for the whole module, with STUN/TURN configured so that every
optional part of the stack is present; cdk-nag runs in it, so this module also
fails if any AwsSolutions finding is left unacknowledged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.stack import RELAY_ACTIONS, ROOM_INDEX_NAME

from .conftest import PROJECT_ROOT, Synth, synth

TURN_PARAMETER = "/sgraph-send/test/turn-secret"
CONTEXT = {
    "stunUrls": "stun:stun.example.net:3478",
    "turnUrls": ["turn:turn.example.net:3478?transport=udp", "turns:turn.example.net:5349"],
    "turnSecretParameter": TURN_PARAMETER,
}
FUNCTIONS = ("Connect", "Disconnect", "Relay")


@pytest.fixture(scope="module")
def built(module_outdir: Path) -> Synth:
    return synth(module_outdir, CONTEXT)


@pytest.fixture(scope="module")
def resources(built: Synth) -> dict[str, Any]:
    return built.json["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def only(resources: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = of_type(resources, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def transfer_bucket_id(resources: dict[str, Any]) -> str:
    """The fallback bucket (the other one holds the page)."""
    (bucket_id,) = [k for k in of_type(resources, "AWS::S3::Bucket") if k.startswith("Transfer")]
    return bucket_id


def function_ids(resources: dict[str, Any]) -> dict[str, str]:
    """Logical id of each function, by name (ConnectFunction... -> Connect)."""
    ids = {}
    for logical_id in of_type(resources, "AWS::Lambda::Function"):
        for name in FUNCTIONS:
            if logical_id.startswith(f"{name}Function"):
                ids[name] = logical_id
    assert sorted(ids) == sorted(FUNCTIONS)
    return ids


def refs(value: Any) -> Iterator[str]:
    """Every logical id a template value points at (Ref and Fn::GetAtt)."""
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for inner in value.values():
            yield from refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from refs(inner)


def statements_of(resources: dict[str, Any], function_name: str) -> list[dict[str, Any]]:
    """All IAM statements attached to one function's execution role."""
    fn = resources[function_ids(resources)[function_name]]
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role, "function roles carry no managed policies"
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if role_id in list(refs(policy["Properties"]["Roles"])):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for s in statements:
        assert s["Effect"] == "Allow"
        out.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return out


# ---------------------------------------------------------------- WebSocket API


def test_api_selects_routes_by_action(built: Synth) -> None:
    built.template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"},
    )


def test_routes_reach_the_right_functions(resources: dict[str, Any]) -> None:
    ids = function_ids(resources)
    integrations = of_type(resources, "AWS::ApiGatewayV2::Integration")
    target_of: dict[str, str] = {}
    for route in of_type(resources, "AWS::ApiGatewayV2::Route").values():
        (integration_id,) = refs(route["Properties"]["Target"])
        uri = integrations[integration_id]["Properties"]["IntegrationUri"]
        (fn_id,) = {r for r in refs(uri) if r in ids.values()}
        target_of[route["Properties"]["RouteKey"]] = fn_id

    assert set(target_of) == {"$connect", "$disconnect", "$default", *RELAY_ACTIONS}
    assert set(RELAY_ACTIONS) == {
        "hello", "signal", "ping", "ice-servers",
        "upload-start", "upload-parts", "upload-complete", "download-urls", "nameplate",
        "transfer-limits", "download-done", "revoke",
    }
    assert target_of["$connect"] == ids["Connect"]
    assert target_of["$disconnect"] == ids["Disconnect"]
    for key in ("$default", *RELAY_ACTIONS):
        assert target_of[key] == ids["Relay"], key


def test_stage_deploys_itself_throttles_and_logs_access(resources: dict[str, Any]) -> None:
    _, stage = only(resources, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "live"
    assert props["AutoDeploy"] is True
    throttle = props["DefaultRouteSettings"]
    assert throttle["ThrottlingRateLimit"] > 0 and throttle["ThrottlingBurstLimit"] > 0

    log_settings = props["AccessLogSettings"]
    (log_group_id,) = refs(log_settings["DestinationArn"])
    assert resources[log_group_id]["Type"] == "AWS::Logs::LogGroup"
    fields = json.loads(log_settings["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert {"routeKey", "eventType", "connectionId", "status"} <= set(fields)
    assert "sourceIp" not in log_settings["Format"], "no client addresses in access logs"
    # Zero knowledge: the room key travels in a request header; nothing of the request
    # (headers, query string, body) may reach the access log, only these $context values.
    assert set(fields.values()) <= {
        "$context.requestId", "$context.requestTimeEpoch", "$context.eventType",
        "$context.routeKey", "$context.connectionId", "$context.status",
        "$context.error.message", "$context.integration.status",
        "$context.integration.error", "$context.integrationLatency",
    }
    assert "$request" not in log_settings["Format"] and "$input" not in log_settings["Format"]

    # API Gateway refuses a logging stage until the account has a CloudWatch role.
    account_id, account = only(resources, "AWS::ApiGateway::Account")
    assert account_id in stage["DependsOn"]
    (role_id,) = refs(account["Properties"]["CloudWatchRoleArn"])
    assert resources[role_id]["DeletionPolicy"] == "Retain"


def test_outputs_name_the_url_and_the_bucket(built: Synth, resources: dict[str, Any]) -> None:
    outputs = built.json["Outputs"]
    url = outputs["WebSocketUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "wss://" and url[-1] == "/live"
    bucket_id = transfer_bucket_id(resources)
    assert outputs["BucketName"]["Value"] == {"Ref": bucket_id}


# -------------------------------------------------------------------- functions


def test_functions_share_one_arm64_asset_and_the_powertools_layer(
    built: Synth, resources: dict[str, Any]
) -> None:
    ids = function_ids(resources)
    handlers = {n: resources[i]["Properties"]["Handler"] for n, i in ids.items()}
    assert handlers == {
        "Connect": "lambdas.connect.handler",
        "Disconnect": "lambdas.disconnect.handler",
        "Relay": "lambdas.relay.handler",
    }
    props = [resources[i]["Properties"] for i in ids.values()]
    assert {p["Runtime"] for p in props} == {"python3.12"}
    assert all(p["Architectures"] == ["arm64"] for p in props)
    assert all(p["TracingConfig"] == {"Mode": "Active"} for p in props)
    assert len({json.dumps(p["Code"], sort_keys=True) for p in props}) == 1, "one shared asset"

    parameters = built.json["Parameters"]
    (layer_param,) = [k for k in parameters if "powertools" in k.lower()]
    assert parameters[layer_param] == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": "/aws/service/powertools/python/arm64/python3.12/latest",
    }
    assert all(p["Layers"] == [{"Ref": layer_param}] for p in props)


def test_every_function_logs_to_its_own_group_with_retention(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert groups and all(g["Properties"]["RetentionInDays"] == 14 for g in groups.values())
    used = set()
    for fn_id in function_ids(resources).values():
        (group_id,) = refs(resources[fn_id]["Properties"]["LoggingConfig"]["LogGroup"])
        assert group_id in groups
        used.add(group_id)
    assert len(used) == 3


def contract_variables() -> set[str]:
    """The Lambda environment variables docs/contracts.md defines."""
    text = (PROJECT_ROOT / "docs" / "contracts.md").read_text()
    section = text.split("## Lambda environment", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))


def test_environment_follows_the_contract(resources: dict[str, Any]) -> None:
    ids = function_ids(resources)
    table_id = next(iter(of_type(resources, "AWS::DynamoDB::Table")))
    bucket_id = transfer_bucket_id(resources)
    env = {n: resources[i]["Properties"]["Environment"]["Variables"] for n, i in ids.items()}
    allowed = contract_variables()
    assert {"TABLE_NAME", "BUCKET_NAME", "TURN_SECRET_PARAMETER"} <= allowed  # parsed right

    for name, variables in env.items():
        assert set(variables) <= allowed, f"{name}: not in docs/contracts.md"
        assert variables["TABLE_NAME"] == {"Ref": table_id}
        assert variables["ROOM_INDEX_NAME"] == ROOM_INDEX_NAME
        assert variables["POWERTOOLS_SERVICE_NAME"] == "sgraph-send"
        # Local-stack-only knobs never reach AWS.
        assert "TURN_SECRET" not in variables and "MANAGEMENT_ENDPOINT_URL" not in variables

    relay = env["Relay"]
    assert relay["BUCKET_NAME"] == {"Ref": bucket_id}
    assert relay["STUN_URLS"] == "stun:stun.example.net:3478"
    assert (
        relay["TURN_URLS"] == "turn:turn.example.net:3478?transport=udp,turns:turn.example.net:5349"
    )
    assert relay["TURN_SECRET_PARAMETER"] == TURN_PARAMETER
    assert env["Connect"]["CONNECT_RATE_PER_MINUTE"] == "60"
    assert env["Connect"]["MAX_CONNECTIONS_PER_ADDRESS"] == "20"
    # The hash secret comes from a generated secret, resolved at deploy (never a literal).
    secret_id = next(iter(of_type(resources, "AWS::SecretsManager::Secret")))
    assert secret_id in json.dumps(env["Connect"]["CLIENT_HASH_SECRET"])
    assert "resolve:secretsmanager" in json.dumps(env["Connect"]["CLIENT_HASH_SECRET"])
    assert relay["MAX_TRANSFER_BYTES"] == str(4 * 1024**3)
    for name in ("Connect", "Disconnect"):
        assert not {"BUCKET_NAME", "TURN_SECRET_PARAMETER", "TURN_URLS"} & set(env[name])


# ------------------------------------------------------------------------- data


def test_table_matches_the_contract(built: Synth) -> None:
    built.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "room-index",
                    "KeySchema": [
                        {"AttributeName": "room_id", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "room_id", "AttributeType": "S"}]
            ),
        },
    )


def test_bucket_is_private_encrypted_and_expiring(built: Synth) -> None:
    built.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        {
                            "Id": "expire-transfers",
                            "Prefix": "transfers/",
                            "ExpirationInDays": 7,
                            "Status": "Enabled",
                        },
                        {
                            "Id": "abort-incomplete-multipart-uploads",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            "Status": "Enabled",
                        },
                    ]
                )
            },
        },
    )


def test_bucket_cors_lets_the_page_put_parts_and_read_etags(resources: dict[str, Any]) -> None:
    """Set by one deploy-time S3 call (a static rule would close a dependency cycle)."""
    bucket_id = transfer_bucket_id(resources)
    assert "CorsConfiguration" not in resources[bucket_id]["Properties"]
    (cors,) = of_type(resources, "Custom::AWS").values()
    for phase in ("Create", "Update"):
        parts = cors["Properties"][phase]["Fn::Join"][1]
        # the joined JSON with each token replaced by a placeholder naming what it is
        text = "".join(p if isinstance(p, str) else f"<{next(refs(p))}>" for p in parts)
        distribution = next(iter(of_type(resources, "AWS::CloudFront::Distribution")))
        call = json.loads(text)
        assert call["action"] == "putBucketCors"
        assert call["parameters"]["Bucket"] == f"<{bucket_id}>"
        (rule,) = call["parameters"]["CORSConfiguration"]["CORSRules"]
        assert rule["AllowedOrigins"] == [f"https://<{distribution}>"]  # the page, not "*"
        assert {"PUT", "GET"} <= set(rule["AllowedMethods"])
        assert rule["ExposeHeaders"] == ["ETag"] and rule["AllowedHeaders"] == ["*"]


def test_bucket_policy_refuses_plain_http(resources: dict[str, Any]) -> None:
    bucket_id = transfer_bucket_id(resources)
    (policy,) = [p for p in of_type(resources, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    denies = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s["Action"] == "s3:*"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 1
    assert set(refs(denies[0]["Resource"])) == {bucket_id}
    assert len(denies[0]["Resource"]) == 2  # the bucket and its objects


# ------------------------------------------------------------------ permissions


def test_connect_may_use_the_table_and_ask_whether_a_holder_lives(
    resources: dict[str, Any],
) -> None:
    actions = actions_of(statements_of(resources, "Connect"))
    assert "dynamodb:PutItem" in actions and "dynamodb:Query" in actions
    # GetConnection on a slot's holder (a connection that vanished without $disconnect)
    assert "execute-api:ManageConnections" in actions
    assert {a.split(":")[0] for a in actions} == {"dynamodb", "logs", "xray", "execute-api"}


def test_disconnect_may_manage_connections_but_not_touch_the_bucket(
    resources: dict[str, Any],
) -> None:
    actions = actions_of(statements_of(resources, "Disconnect"))
    assert "execute-api:ManageConnections" in actions
    assert {a.split(":")[0] for a in actions} == {"dynamodb", "logs", "xray", "execute-api"}


def test_relay_may_manage_connections_presign_and_read_the_turn_secret(
    resources: dict[str, Any],
) -> None:
    bucket_id = transfer_bucket_id(resources)
    statements = statements_of(resources, "Relay")
    actions = actions_of(statements)
    assert "execute-api:ManageConnections" in actions
    assert {"s3:PutObject", "s3:GetObject*", "s3:Abort*"} <= actions

    (s3_statement,) = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    object_arns = [r for r in s3_statement["Resource"] if "Fn::Join" in r]
    assert [r["Fn::Join"][1][-1] for r in object_arns] == ["/transfers/*"]
    assert set(refs(s3_statement["Resource"])) == {bucket_id}

    (ssm_statement,) = [s for s in statements if "ssm:GetParameter" in s["Action"]]
    arn = json.dumps(ssm_statement["Resource"])
    assert "parameter/sgraph-send/test/turn-secret" in arn and "*" not in arn


def test_only_the_relay_touches_the_bucket_and_the_secret(resources: dict[str, Any]) -> None:
    bucket_id = transfer_bucket_id(resources)
    relay_role = resources[function_ids(resources)["Relay"]]["Properties"]["Role"]
    for logical_id, policy in of_type(resources, "AWS::IAM::Policy").items():
        document = policy["Properties"]["PolicyDocument"]
        text = json.dumps(document)
        if policy["Properties"]["Roles"] == [{"Ref": relay_role["Fn::GetAtt"][0]}]:
            assert bucket_id in text and "ssm:" in text
        elif logical_id.startswith("WebTransferBucketCors"):
            # the deploy-time CORS call: that one action on that one bucket
            (statement,) = document["Statement"]
            assert statement["Action"] == "s3:PutBucketCORS"
            assert set(refs(statement["Resource"])) == {bucket_id}
        elif logical_id.startswith("CleanupRole"):
            # deletes expired transfers: list, delete, abort; never reads or writes objects
            # (tests/infra/test_cleanup.py asserts each statement)
            assert bucket_id in text and "ssm:" not in text
            assert "s3:GetObject" not in text and "s3:PutObject" not in text
        else:
            assert bucket_id not in text and "ssm:" not in text, logical_id


def test_the_only_unscoped_statements_are_xray(resources: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        for statement in statements_of(resources, name):
            if statement["Resource"] == "*":
                assert actions_of([statement]) == {
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                }, name


# ------------------------------------------------------------------------ page


def joined(value: Any) -> str:
    """A template string with each token shown as ``<logical id>`` (or ``<AWS::Region>``)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return "".join(joined(part) for part in value["Fn::Join"][1])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected template value {value!r}")


def test_the_page_is_a_private_bucket_behind_cloudfront(resources: dict[str, Any]) -> None:
    _, distribution = only(resources, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"] == "http2and3"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["Compress"] is True
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    (policy_id,) = refs(behavior["ResponseHeadersPolicyId"])
    assert resources[policy_id]["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"
    (origin,) = config["Origins"]
    (web_bucket,) = refs(origin["DomainName"])
    assert web_bucket != transfer_bucket_id(resources)
    assert resources[web_bucket]["Type"] == "AWS::S3::Bucket"
    assert resources[web_bucket]["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    (oac_id,) = refs(origin["OriginAccessControlId"])
    oac = resources[oac_id]["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3"
    # only CloudFront (this distribution) may read the page's files
    (bucket_policy,) = [p for p in of_type(resources, "AWS::S3::BucketPolicy").values()
                        if p["Properties"]["Bucket"] == {"Ref": web_bucket}]
    allows = [s for s in bucket_policy["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Allow"]
    assert allows and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"}
                          for s in allows)


def test_the_headers_policy_is_infra_headers_for_this_stack(
    built: Synth, resources: dict[str, Any]
) -> None:
    from infra.headers import HSTS_MAX_AGE_SECONDS, PERMISSIONS_POLICY

    _, policy = only(resources, "AWS::CloudFront::ResponseHeadersPolicy")
    config = policy["Properties"]["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    csp = joined(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    api = only(resources, "AWS::ApiGatewayV2::Api")[0]
    bucket = transfer_bucket_id(resources)
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"  # WebAssembly only
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"].split() == [
        "'self'",
        f"wss://<{api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>",
        f"https://<{bucket}.RegionalDomainName>",
        f"https://<{bucket}.DomainName>",
    ]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(csp.replace(";", " ").split())
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert security["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": HSTS_MAX_AGE_SECONDS, "IncludeSubdomains": True,
        "Override": True,
    }
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert config["CustomHeadersConfig"]["Items"] == [
        {"Header": "Permissions-Policy", "Value": PERMISSIONS_POLICY, "Override": True}
    ]


def test_deploy_uploads_web_and_a_config_from_the_stack(
    built: Synth, resources: dict[str, Any]
) -> None:
    (deployment,) = of_type(resources, "Custom::CDKBucketDeployment").values()
    props = deployment["Properties"]
    (web_bucket,) = refs(props["DestinationBucketName"])
    assert web_bucket != transfer_bucket_id(resources)
    assert props["Prune"] is True and props["DistributionPaths"] == ["/*"]
    # three sources: web/, config.json (with deploy-time values), test-vectors.json
    assert len(props["SourceObjectKeys"]) == 3
    markers = props["SourceMarkers"][1]
    values = sorted(joined(v) for v in markers.values())
    api = only(resources, "AWS::ApiGatewayV2::Api")[0]
    distribution = only(resources, "AWS::CloudFront::Distribution")[0]
    assert values == [
        f'"https://<{distribution}.DomainName>/"',
        f'"wss://<{api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/live"',
    ]
    # the config asset itself: server and page, each a deploy-time marker
    assets = {p.name for p in built.outdir.glob("asset.*")}
    configs = [(built.outdir / a / "config.json").read_text()
               for a in assets if (built.outdir / a / "config.json").is_file()]
    # each marker is replaced at deploy time by its value, a JSON string (quotes included)
    assert [json.loads(c.replace("<<marker:0xbaba:0>>", '"S"').replace(
        "<<marker:0xbaba:1>>", '"P"')) for c in configs] == [{"server": "S", "page": "P"}]
    web_assets = [a for a in assets if (built.outdir / a / "index.html").is_file()]
    assert len(web_assets) == 1
    assert (built.outdir / web_assets[0] / "js" / "app.js").is_file()


def test_outputs_name_the_page(built: Synth, resources: dict[str, Any]) -> None:
    distribution = only(resources, "AWS::CloudFront::Distribution")[0]
    url = joined(built.json["Outputs"]["WebUrl"]["Value"])
    assert url == f"https://<{distribution}.DomainName>/"
