"""The vendored QR library and WebAssembly SHA-256 are the published files, unmodified
(web/vendor/*/VERSION)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "web" / "vendor" / "uqr"
HASH_WASM = VENDOR.parent / "hash-wasm"


def test_vendored_uqr_is_the_recorded_file() -> None:
    recorded = re.search(r"^sha256 index\.js ([0-9a-f]{64})$", (VENDOR / "VERSION").read_text(),
                         re.MULTILINE)
    assert recorded, "VERSION records no sha256"
    assert hashlib.sha256((VENDOR / "index.js").read_bytes()).hexdigest() == recorded.group(1)
    assert "MIT License" in (VENDOR / "LICENSE").read_text()
    # the page's CSP forbids eval: the library must not need it
    source = (VENDOR / "index.js").read_text()
    assert "eval(" not in source and "new Function" not in source


def test_vendored_hash_wasm_is_the_recorded_file() -> None:
    recorded = re.search(r"^sha256 sha256\.umd\.min\.js ([0-9a-f]{64})$",
                         (HASH_WASM / "VERSION").read_text(), re.MULTILINE)
    assert recorded, "VERSION records no sha256"
    source = (HASH_WASM / "sha256.umd.min.js").read_bytes()
    assert hashlib.sha256(source).hexdigest() == recorded.group(1)
    assert "MIT License" in (HASH_WASM / "LICENSE").read_text()
    # the CSP allows compiling WebAssembly ('wasm-unsafe-eval'), never JavaScript eval
    assert b"eval(" not in source and b"new Function" not in source
