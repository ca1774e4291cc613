"""Docker-free bundling of the one code asset that all the Lambda functions share.

The asset root holds two importable packages, so handler strings read
``lambdas.connect.handler`` and so on:

- ``lambdas/``, copied whole (minus caches);
- ``transfer_core/``, only the modules listed in :data:`LAMBDA_SAFE_CORE`: the
  client-side modules import ``cryptography`` and ``aiortc``, which the Lambda
  neither has nor needs.

Nothing else: the asset is our own code only. The handlers import the standard
library, boto3 (part of the Lambda runtime) and Powertools (its AWS-managed layer,
see ``infra/stack.py``), so there is no pip step and a build downloads nothing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

#: The entries of ``transfer_core/`` that go into the Lambda bundle: files, or
#: directories when the name ends in ``/``. Only modules that import the standard
#: library, boto3 and each other belong here (the import-closure test
#: in ``tests/infra/test_bundling.py`` enforces it). Entries that do not exist
#: yet are skipped, so the list may run ahead of the library.
LAMBDA_SAFE_CORE: tuple[str, ...] = (
    "__init__.py", "errors.py", "wire/", "storage/",
    # the room capability (standard library only): the relay hashes the presented key
    "protocol/__init__.py", "protocol/room.py",
)

#: Packages bundled whole.
LAMBDA_PACKAGES: tuple[str, ...] = ("lambdas",)

#: The zipped size the asset should stay under (Powertools excluded).
SIZE_BUDGET_BYTES = 5 * 1024 * 1024

_SKIP_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class LambdaPlatform:
    """The Lambda runtime the bundle targets."""

    python_version: str
    """Interpreter version, e.g. ``"3.12"``."""
    architecture: str
    """``"arm64"`` or ``"x86_64"``, spelled as Lambda and the Powertools layer spell it."""

    @property
    def runtime(self) -> lambda_.Runtime:
        """The matching Lambda runtime."""
        runtime: lambda_.Runtime = getattr(
            lambda_.Runtime, "PYTHON_" + self.python_version.replace(".", "_")
        )
        return runtime

    @property
    def lambda_architecture(self) -> lambda_.Architecture:
        """The matching Lambda architecture."""
        return (
            lambda_.Architecture.ARM_64
            if self.architecture == "arm64"
            else lambda_.Architecture.X86_64
        )


@dataclass(frozen=True)
class BundleReport:
    """What a build produced."""

    files: int
    """Number of files in the bundle."""
    unzipped_bytes: int
    """Sum of the file sizes."""
    zipped_bytes: int
    """Size of the bundle zipped with deflate, as Lambda receives it (give or take headers)."""

    def summary(self) -> str:
        """One line for the build log."""
        mib = 1024 * 1024
        verdict = "within" if self.zipped_bytes <= SIZE_BUDGET_BYTES else "OVER"
        return (
            f"lambda asset: {self.files} files, {self.unzipped_bytes / mib:.2f} MiB unzipped, "
            f"{self.zipped_bytes / mib:.2f} MiB zipped ({verdict} the "
            f"{SIZE_BUDGET_BYTES / mib:.0f} MiB budget, Powertools layer excluded)"
        )


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_DIRS or n.endswith(_SKIP_SUFFIXES)}


def copy_sources(project_root: Path, out: Path) -> list[str]:
    """Copy the handler package and the Lambda-safe core modules; return what was copied."""
    copied: list[str] = []
    for package in LAMBDA_PACKAGES:
        src = project_root / package
        if src.is_dir():
            shutil.copytree(src, out / package, ignore=_ignore, dirs_exist_ok=True)
            copied.append(f"{package}/")
    core_src = project_root / "transfer_core"
    for entry in LAMBDA_SAFE_CORE:
        src = core_src / entry.rstrip("/")
        dst = out / "transfer_core" / entry.rstrip("/")
        if entry.endswith("/") and src.is_dir():
            shutil.copytree(src, dst, ignore=_ignore, dirs_exist_ok=True)
        elif not entry.endswith("/") and src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        else:
            continue  # not written yet: skipped on purpose
        copied.append(f"transfer_core/{entry}")
    return copied


def measure(directory: Path) -> BundleReport:
    """Count, sum and zip ``directory`` the way the asset will be shipped."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for path in files:
                archive.write(path, path.relative_to(directory).as_posix())
        zipped = handle.tell()
    return BundleReport(files=len(files), unzipped_bytes=unzipped, zipped_bytes=zipped)


def build_bundle(out: Path, *, project_root: Path) -> BundleReport:
    """Fill ``out`` with the complete Lambda asset and return its measurements.

    The asset is pure Python, so it is the same for every Lambda architecture.
    """
    out.mkdir(parents=True, exist_ok=True)
    copy_sources(project_root, out)
    return measure(out)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK local bundling: builds the asset in-process instead of in a Docker image."""

    def __init__(self, project_root: Path) -> None:
        self._project_root = project_root

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        """Build into ``output_dir``; True tells CDK not to fall back to Docker."""
        report = build_bundle(Path(output_dir), project_root=self._project_root)
        print(report.summary(), file=sys.stderr, flush=True)
        return True


def lambda_code(project_root: Path, platform: LambdaPlatform) -> lambda_.Code:
    """The shared asset.

    The source path only anchors the asset; the bundler reads the tree itself,
    and the asset hash is taken over the bundle's output, so any change to the
    bundled code yields a new asset and nothing else does.
    """
    return lambda_.Code.from_asset(
        str(project_root / "lambdas"),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Required by the API, never pulled: local bundling always succeeds or raises.
            image=platform.runtime.bundling_image,
            # jsii calls try_bundle(output_dir, options); the stub spells the options out.
            local=LocalPythonBundler(project_root),  # type: ignore[arg-type]
        ),
    )
