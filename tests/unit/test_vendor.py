"""The vendored QR library is the published file, unmodified (web/vendor/uqr/VERSION)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "web" / "vendor" / "uqr"


def test_vendored_uqr_is_the_recorded_file() -> None:
    recorded = re.search(r"^sha256 index\.js ([0-9a-f]{64})$", (VENDOR / "VERSION").read_text(),
                         re.MULTILINE)
    assert recorded, "VERSION records no sha256"
    assert hashlib.sha256((VENDOR / "index.js").read_bytes()).hexdigest() == recorded.group(1)
    assert "MIT License" in (VENDOR / "LICENSE").read_text()
    # the page's CSP forbids eval: the library must not need it
    source = (VENDOR / "index.js").read_text()
    assert "eval(" not in source and "new Function" not in source
