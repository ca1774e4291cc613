"""infra/headers.py: the page's security headers, computed from the deployment's origins."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.headers import origin_of, security_headers


def directives(csp: str) -> dict[str, str]:
    return dict(part.split(" ", 1) for part in csp.split("; "))


def test_connect_src_is_the_page_the_relay_and_the_bucket_only() -> None:
    headers = security_headers(
        "wss://abc.execute-api.eu-west-2.amazonaws.com/live",
        ["https://b.s3.eu-west-2.amazonaws.com", "https://b.s3.amazonaws.com"],
    )
    csp = directives(headers.content_security_policy)
    assert csp["connect-src"].split() == [
        "'self'", "wss://abc.execute-api.eu-west-2.amazonaws.com",
        "https://b.s3.eu-west-2.amazonaws.com", "https://b.s3.amazonaws.com",
    ]
    # WebAssembly may be compiled (the page's SHA-256), JavaScript may not be eval'd
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert csp["frame-ancestors"] == csp["base-uri"] == csp["form-action"] == "'none'"
    assert csp["object-src"] == "'none'"
    sources = headers.content_security_policy.replace(";", " ").split()
    assert not {"'unsafe-eval'", "'unsafe-inline'", "'unsafe-hashes'"} & set(sources)
    assert not any(source in csp["connect-src"].split() for source in ("wss:", "https:", "*"))


def test_every_header_the_issue_names_is_sent() -> None:
    sent = security_headers("ws://127.0.0.1:9000/local", ["http://127.0.0.1:9001"]).as_http()
    assert sent["Referrer-Policy"] == "no-referrer"
    assert sent["X-Content-Type-Options"] == "nosniff"
    assert sent["Strict-Transport-Security"].startswith("max-age=63072000")
    assert "camera=()" in sent["Permissions-Policy"]
    assert "ws://127.0.0.1:9000 http://127.0.0.1:9001" in sent["Content-Security-Policy"]


def test_origin_of_keeps_scheme_host_and_port_and_works_on_tokens() -> None:
    assert origin_of("wss://h.example:8443/live?x=1") == "wss://h.example:8443"
    assert origin_of("HTTP://127.0.0.1:5/") == "http://127.0.0.1:5"
    token = "wss://${Token[TOKEN.1]}.execute-api.${Token[AWS.Region.2]}.amazonaws.com/live"
    assert origin_of(token) == "wss://${Token[TOKEN.1]}.execute-api.${Token[AWS.Region.2]}.amazonaws.com"
    with pytest.raises(ValueError, match="absolute"):
        origin_of("/relative")


def test_the_module_is_pure_python() -> None:
    """devstack imports it: it must not start the CDK's node kernel."""
    code = "import sys, infra.headers; print('aws_cdk' in sys.modules, 'jsii' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cfn_lint_control_reports_a_broken_template(tmp_path) -> None:
    """The cfn-lint helper the stack tests use does see errors."""
    import json

    from .conftest import cfn_lint_errors

    (tmp_path / "SGraphSend.template.json").write_text(json.dumps({
        "Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"NoSuchProperty": 1}}},
    }))
    errors = cfn_lint_errors(tmp_path)
    assert errors and "NoSuchProperty" in errors[0]
