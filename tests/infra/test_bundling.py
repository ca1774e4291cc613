"""The real Lambda asset: built once per run from the real tree and the real wheels.

The wheels come from PyPI on the first build on a machine and from the wheel
cache (keyed by requirements and platform) after that, so this module proves the
real bundle and still runs in about a second.
"""

from __future__ import annotations

import ast
import concurrent.futures
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import bundling
from infra.bundling import (
    LAMBDA_SAFE_CORE,
    SIZE_BUDGET_BYTES,
    BundleReport,
    LambdaPlatform,
    build_bundle,
    wheel_cache_key,
)
from infra.stack import PLATFORM, RELAY_ACTIONS

from .conftest import PROJECT_ROOT

HANDLER_MODULES = ("connect", "disconnect", "relay")
#: In the Python 3.12 Lambda runtime.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"}
#: In the Powertools layer.
LAYER_PROVIDED = {"aws_lambda_powertools", "aws_xray_sdk"}
OUR_PACKAGES = ("lambdas", "transfer_core")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BundleReport]:
    out = tmp_path_factory.mktemp("lambda-asset")
    report = build_bundle(out, project_root=PROJECT_ROOT, platform=PLATFORM)
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


def test_wheels_are_for_the_lambda_platform(bundle: tuple[Path, BundleReport]) -> None:
    out, _ = bundle
    assert LambdaPlatform(python_version="3.12", architecture="arm64") == PLATFORM
    (extension,) = (out / "pydantic_core").glob("_pydantic_core*.so")
    assert extension.name == "_pydantic_core.cpython-312-aarch64-linux-gnu.so"
    header = extension.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == 183  # e_machine: EM_AARCH64
    assert not list(out.rglob("*.pyc")), "no bytecode compiled by this machine's Python"


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
    infra/bundling.py (when it imports only the standard library, boto3 and pydantic)
    or keep the handler from importing it.
    """
    out, _ = bundle
    third_party = {p.name for p in out.iterdir() if p.is_dir()} | {p.stem for p in out.glob("*.py")}
    available = set(sys.stdlib_module_names) | RUNTIME_PROVIDED | LAYER_PROVIDED | third_party
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


# ---------------------------------------------------------------------- caching


def test_cache_key_tracks_requirements_and_platform() -> None:
    arm = LambdaPlatform("3.12", "arm64")
    key = wheel_cache_key(arm, ("pydantic==2.14.4",))
    assert key == wheel_cache_key(arm, ("pydantic==2.14.4",))
    assert key != wheel_cache_key(arm, ("pydantic==2.14.3",))
    assert key != wheel_cache_key(LambdaPlatform("3.12", "x86_64"), ("pydantic==2.14.4",))
    assert key != wheel_cache_key(LambdaPlatform("3.13", "arm64"), ("pydantic==2.14.4",))


def test_a_cached_wheel_set_is_reused_without_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_pip(args: list[str], check: bool) -> None:
        calls.append(args)
        target = Path(args[args.index("--target") + 1])
        (target / "fake_wheel").mkdir()
        (target / "fake_wheel" / "__init__.py").write_text("")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    platform = LambdaPlatform("3.12", "arm64")
    first = bundling.install_wheels(platform, ("fake==1",), cache_root=tmp_path)
    second = bundling.install_wheels(platform, ("fake==1",), cache_root=tmp_path)
    assert first == second and (first / "fake_wheel" / "__init__.py").exists()
    assert len(calls) == 1
    args = calls[0]
    assert args[args.index("--platform") + 1] == "manylinux2014_aarch64"
    assert args[args.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in args and "--no-compile" in args
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no staging dirs left behind"


def test_bundled_pydantic_is_the_one_the_handlers_are_tested_with(
    bundle: tuple[Path, BundleReport],
) -> None:
    from importlib.metadata import version

    out, _ = bundle
    (dist_info,) = out.glob("pydantic-*.dist-info")
    assert dist_info.name == f"pydantic-{version('pydantic')}.dist-info", (
        "bump LAMBDA_REQUIREMENTS in infra/bundling.py to the tested pydantic"
    )
