"""Docker-free bundling of the one code asset that all three Lambda functions share.

The asset root holds two importable packages, so handler strings read
``lambdas.connect.handler`` and so on:

- ``lambdas/``, copied whole (minus caches);
- ``transfer_core/``, only the modules listed in :data:`LAMBDA_SAFE_CORE`: the
  client-side modules import ``cryptography`` and ``aiortc``, which the Lambda
  neither has nor needs;

plus the extra wheels in :data:`LAMBDA_REQUIREMENTS`, installed by pip for the
Lambda platform (not this machine's) and cached on disk by a key over the
requirements and the platform, so that only the first build downloads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
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
#: library, boto3, pydantic and each other belong here (the import-closure test
#: in ``tests/infra/test_bundling.py`` enforces it). Entries that do not exist
#: yet are skipped, so the list may run ahead of the library.
LAMBDA_SAFE_CORE: tuple[str, ...] = (
    "__init__.py", "errors.py", "wire/", "storage/",
    # the room capability (standard library only): the relay hashes the presented key
    "protocol/__init__.py", "protocol/room.py",
)

#: Packages bundled whole.
LAMBDA_PACKAGES: tuple[str, ...] = ("lambdas",)

#: Extra wheels for the Lambda platform. pydantic pins its own pydantic-core
#: exactly, so pinning pydantic pins both; keep it equal to the version the
#: handlers are tested with. boto3 comes with the runtime, Powertools with its
#: layer (see ``infra/stack.py``).
LAMBDA_REQUIREMENTS: tuple[str, ...] = ("pydantic==2.14.4",)

#: The zipped size the asset should stay under (Powertools excluded).
SIZE_BUDGET_BYTES = 5 * 1024 * 1024

_SKIP_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_CACHE_FORMAT = 1  # bump to invalidate every cached wheel set


@dataclass(frozen=True)
class LambdaPlatform:
    """The Lambda runtime the bundle targets."""

    python_version: str
    """Interpreter version, e.g. ``"3.12"``."""
    architecture: str
    """``"arm64"`` or ``"x86_64"``, spelled as Lambda and the Powertools layer spell it."""

    @property
    def pip_platform(self) -> str:
        """The wheel platform tag pip must install for."""
        machine = {"arm64": "aarch64", "x86_64": "x86_64"}[self.architecture]
        return f"manylinux2014_{machine}"

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


def default_cache_root() -> Path:
    """Where installed wheel sets are kept: ``$SGRAPH_SEND_WHEEL_CACHE`` or the user cache."""
    if env := os.environ.get("SGRAPH_SEND_WHEEL_CACHE"):
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sgraph-send" / "lambda-wheels"


def wheel_cache_key(platform: LambdaPlatform, requirements: tuple[str, ...]) -> str:
    """A short digest of everything that decides which files pip installs."""
    material = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "python": platform.python_version,
            "platform": platform.pip_platform,
            "requirements": sorted(requirements),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:20]


def install_wheels(
    platform: LambdaPlatform,
    requirements: tuple[str, ...] = LAMBDA_REQUIREMENTS,
    cache_root: Path | None = None,
) -> Path:
    """Return a directory holding ``requirements`` installed for ``platform``.

    The first call for a given key runs pip (binary wheels only, for the Lambda
    platform and Python version, no bytecode); later calls return the cached
    directory. The install goes to a temporary sibling and is renamed into place,
    so a crash or a concurrent build never leaves a half-filled cache entry.
    """
    root = cache_root or default_cache_root()
    target = root / wheel_cache_key(platform, requirements)
    if (target / ".complete").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=root))
    try:
        if requirements:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-compile",
                    "--platform",
                    platform.pip_platform,
                    "--implementation",
                    "cp",
                    "--python-version",
                    platform.python_version,
                    "--only-binary=:all:",
                    "--target",
                    str(staging),
                    *requirements,
                ],
                check=True,
            )
        # pip --target may leave console scripts; the Lambda never runs them.
        shutil.rmtree(staging / "bin", ignore_errors=True)
        (staging / ".complete").write_text(json.dumps(list(requirements)) + "\n")
        try:
            staging.rename(target)
        except OSError:
            if not (target / ".complete").exists():  # lost a race to a complete copy? fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_DIRS or n.endswith(_SKIP_SUFFIXES) or n == ".complete"}


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


def build_bundle(
    out: Path,
    *,
    project_root: Path,
    platform: LambdaPlatform,
    requirements: tuple[str, ...] = LAMBDA_REQUIREMENTS,
    cache_root: Path | None = None,
) -> BundleReport:
    """Fill ``out`` with the complete Lambda asset and return its measurements."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = install_wheels(platform, requirements, cache_root)
    shutil.copytree(wheels, out, ignore=_ignore, dirs_exist_ok=True)
    copy_sources(project_root, out)
    return measure(out)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK local bundling: builds the asset in-process instead of in a Docker image."""

    def __init__(
        self,
        project_root: Path,
        platform: LambdaPlatform,
        requirements: tuple[str, ...] = LAMBDA_REQUIREMENTS,
        cache_root: Path | None = None,
    ) -> None:
        self._project_root = project_root
        self._platform = platform
        self._requirements = requirements
        self._cache_root = cache_root

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        """Build into ``output_dir``; True tells CDK not to fall back to Docker."""
        report = build_bundle(
            Path(output_dir),
            project_root=self._project_root,
            platform=self._platform,
            requirements=self._requirements,
            cache_root=self._cache_root,
        )
        print(report.summary(), file=sys.stderr, flush=True)
        return True


def lambda_code(project_root: Path, platform: LambdaPlatform) -> lambda_.Code:
    """The shared asset.

    The source path only anchors the asset; the bundler reads the tree itself,
    and the asset hash is taken over the bundle's output, so any change to the
    bundled code or wheels yields a new asset and nothing else does.
    """
    return lambda_.Code.from_asset(
        str(project_root / "lambdas"),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Required by the API, never pulled: local bundling always succeeds or raises.
            image=platform.runtime.bundling_image,
            # jsii calls try_bundle(output_dir, options); the stub spells the options out.
            local=LocalPythonBundler(project_root, platform),  # type: ignore[arg-type]
        ),
    )
