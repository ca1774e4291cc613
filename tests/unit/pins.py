"""The digest the adapters' pin tests compare: sha256 (first 16 hex digits) of
`inspect.getsource` of a method of aiortc or aioice that an adapter copies or relies on."""

from __future__ import annotations

import hashlib
import inspect


def source_digest(owner: type, name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


def changed(owner: type, pinned: dict[str, str]) -> list[str]:
    """The names in `pinned` whose source no longer has its pinned digest."""
    return [name for name, digest in pinned.items() if source_digest(owner, name) != digest]


def assert_unchanged(owner: type, pinned: dict[str, str], adapter: str) -> None:
    """Fail, naming the adapter to review, when a pinned source of `owner` changed."""
    found = changed(owner, pinned)
    library = owner.__module__.split(".")[0]
    assert not found, f"{library} changed {found}: review {adapter} against them"
