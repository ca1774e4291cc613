"""The real Lambda asset: built once per run from the real tree.

The asset is our own code only (no pip step, nothing downloaded), so this module
proves the real bundle and still runs in about a second.
"""

from __future__ import annotations

import ast
import concurrent.futures
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.bundling import (
    LAMBDA_SAFE_CORE,
    SIZE_BUDGET_BYTES,
    BundleReport,
    LambdaPlatform,
    build_bundle,
)
from infra.stack import PLATFORM, RELAY_ACTIONS

from .conftest import PROJECT_ROOT

HANDLER_MODULES = ("connect", "disconnect", "relay")
#: In the Python 3.12 Lambda runtime.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"}
#: In the Powertools layer.
LAYER_PROVIDED = {"aws_lambda_powertools", "aws_xray_sdk"}
#: Importable in the Lambda (the Powertools layer carries pydantic for its Parser
#: utility) but not by our code: the layer decides its version, not our tests, and
#: the handlers validate messages with the standard library.
NOT_FOR_OUR_CODE = {"pydantic", "pydantic_core"}
OUR_PACKAGES = ("lambdas", "transfer_core")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BundleReport]:
    out = tmp_path_factory.mktemp("lambda-asset")
    report = build_bundle(out, project_root=PROJECT_ROOT)
    print(report.summary())
    return out, report


def source_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    }


def test_asset_fits_the_size_budget(bundle: tuple[Path, BundleReport]) -> None:
    _, report = bundle
    assert 0 < report.zipped_bytes <= SIZE_BUDGET_BYTES, report.summary()
    assert "within" in report.summary()


def test_all_of_lambdas_is_bundled(bundle: tuple[Path, BundleReport]) -> None:
    out, _ = bundle
    expected = {f"lambdas/{f}" for f in source_files(PROJECT_ROOT / "lambdas")}
    assert "lambdas/__init__.py" in expected
    assert expected <= source_files(out)
    assert not list(out.rglob("__pycache__"))


@pytest.mark.parametrize("name", HANDLER_MODULES)
def test_each_handler_module_is_bundled_with_a_handler(
    bundle: tuple[Path, BundleReport], name: str
) -> None:
    assert (PROJECT_ROOT / "lambdas" / f"{name}.py").exists(), f"lambdas/{name}.py is missing"
    tree = ast.parse((bundle[0] / "lambdas" / f"{name}.py").read_text())
    top_level = {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    } | {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert "handler" in top_level


def test_only_lambda_safe_core_modules_are_bundled(bundle: tuple[Path, BundleReport]) -> None:
    out, _ = bundle
    bundled = source_files(out / "transfer_core") if (out / "transfer_core").exists() else set()
    allowed = {e.rstrip("/") for e in LAMBDA_SAFE_CORE}
    for path in bundled:
        assert path in allowed or path.split("/")[0] in allowed, path
    for entry in LAMBDA_SAFE_CORE:  # whatever exists of the list is there
        if (PROJECT_ROOT / "transfer_core" / entry.rstrip("/")).exists():
            assert any(p == entry or p.startswith(entry) for p in bundled), entry
    # Client-side modules (cryptography, aiortc) stay out.
    assert not {"keys.py", "record.py"} & bundled


def test_the_bundle_targets_the_lambda_platform(bundle: tuple[Path, BundleReport]) -> None:
    out, _ = bundle
    assert LambdaPlatform(python_version="3.12", architecture="arm64") == PLATFORM
    assert not list(out.rglob("*.pyc")), "no bytecode compiled by this machine's Python"


def test_the_bundle_holds_no_third_party_package(bundle: tuple[Path, BundleReport]) -> None:
    """Our code only: boto3 comes with the runtime, Powertools with its layer."""
    out, _ = bundle
    top_level = sorted(p.name for p in out.iterdir())
    assert top_level == sorted(OUR_PACKAGES), top_level  # no pydantic, no *.dist-info
    assert not list(out.rglob("*.dist-info")) and not list(out.rglob("*.so"))


# ---------------------------------------------------------------- import closure


class _Imports(ast.NodeVisitor):
    """Module names imported by a file, except under `if TYPE_CHECKING:`."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.found: list[tuple[int, str, tuple[str, ...]]] = []

    def visit_If(self, node: ast.If) -> None:  # noqa: N802 - ast API
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        for child in node.orelse if name == "TYPE_CHECKING" else [*node.body, *node.orelse]:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        self.found += [(node.lineno, alias.name, ()) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - node.level + 1]
            module = ".".join([*base, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        self.found.append((node.lineno, module, tuple(a.name for a in node.names)))


def _is_module(root: Path, dotted: str) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _our_files(out: Path) -> Iterator[tuple[Path, str]]:
    for package in OUR_PACKAGES:
        for path in sorted((out / package).rglob("*.py")) if (out / package).exists() else []:
            parts = path.relative_to(out).with_suffix("").parts
            yield path, ".".join(parts[:-1])  # the package relative imports start from


def _parse(path: Path) -> ast.Module:
    """`ast.parse` in a fresh thread: CPython 3.11.7 can raise "AST constructor recursion
    depth mismatch" (a SystemError) in a thread whose recursion counter an earlier
    RecursionError left skewed, as the strict-JSON tests provoke on purpose."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ast.parse, path.read_text(), str(path)).result()


def test_bundled_code_imports_only_what_the_lambda_has(bundle: tuple[Path, BundleReport]) -> None:
    """Every import in lambdas/ and transfer_core/ resolves inside the Lambda.

    If this fails for a transfer_core module, either add it to LAMBDA_SAFE_CORE in
    infra/bundling.py (when it imports only the standard library and boto3) or keep
    the handler from importing it. pydantic is not available to our code (see
    NOT_FOR_OUR_CODE).
    """
    out, _ = bundle
    available = set(sys.stdlib_module_names) | RUNTIME_PROVIDED | LAYER_PROVIDED
    available -= NOT_FOR_OUR_CODE
    problems = []
    for path, package in _our_files(out):
        visitor = _Imports(package)
        visitor.visit(_parse(path))
        where = path.relative_to(out)
        for line, module, names in visitor.found:
            top = module.split(".")[0]
            if top in OUR_PACKAGES:
                if not _is_module(out, module):
                    problems.append(f"{where}:{line}: {module} is not in the bundle")
                    continue
                for name in names:  # `from pkg import submodule` must be bundled too
                    submodule = f"{module}.{name}"
                    if PROJECT_ROOT.joinpath(*submodule.split(".")).with_suffix(
                        ".py"
                    ).exists() and not _is_module(out, submodule):
                        problems.append(f"{where}:{line}: {submodule} is not in the bundle")
            elif top not in available:
                problems.append(f"{where}:{line}: {module} is not available in the Lambda")
    assert not problems, "\n".join(problems)


def test_every_relay_action_has_a_route() -> None:
    from lambdas.signalling.messages import ACTIONS

    assert set(ACTIONS) == set(RELAY_ACTIONS)
