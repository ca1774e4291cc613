"""Shared helpers for the stack tests: synthesise the real app the way `cdk synth` does."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before jsii starts its node process: the Node 20 end-of-life banner is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.stack import SendStack  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    """The context `cdk synth` reads from cdk.json (feature flags and our defaults).

    ``cdk.App()`` in a test does not read cdk.json itself, so without this the tests
    would synthesise with other feature flags than the real CLI does.
    """
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass
class Synth:
    """One synthesised app."""

    stack: SendStack
    template: Template
    outdir: Path

    @property
    def json(self) -> Mapping[str, Any]:
        """The raw CloudFormation template."""
        return self.template.to_json()


def synth(outdir: Path, overrides: dict[str, Any] | None = None, *, nag: bool = True,
          env: cdk.Environment | None = None) -> Synth:
    """Build the app as app.py does (cdk-nag included) with cdk.json context plus overrides.

    ``env`` is what `cdk synth` passes when it knows an account or region (a profile,
    a default region): cdk-nag then prints those values literally in finding ids.
    """
    app = cdk.App(context={**cdk_json_context(), **(overrides or {})}, outdir=str(outdir))
    stack = SendStack(app, "SGraphSend", env=env)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises on any unacknowledged cdk-nag finding
    return Synth(stack=stack, template=Template.from_stack(stack), outdir=outdir)


@pytest.fixture(scope="module")
def module_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cloud-assembly directory per test module."""
    return tmp_path_factory.mktemp("cdk.out")


def cfn_lint_errors(outdir: Path) -> list[str]:
    """cfn-lint's errors (not warnings) on the synthesised template, one line each."""
    import subprocess
    import sys

    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    template = outdir / "SGraphSend.template.json"
    assert template.is_file()
    result = subprocess.run(
        [str(cfn_lint), str(template), "--format", "parseable"],
        capture_output=True, text=True, timeout=600,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0 or lines, result.stderr[-2000:]  # ran, and said why
    # parseable: file:line:col:line:col:RULE:message; E* rules are errors
    return [line for line in lines if line.split(":")[5].startswith("E")]
