"""`sgraph-send send --qr` prints the whole link as a QR code that decodes back to it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.qr_decode import decode_image, matrix_image, strip_quiet_zone, terminal_matrix
from transfer_core.qr import qr_matrix

ROOT = Path(__file__).resolve().parents[2]


def test_send_qr_prints_the_link_as_a_qr_code(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"x" * 1000)
    # nothing listens on the discard port: the CLI prints the link and its QR code, then
    # fails to reach the relay (the QR is shown before any connection)
    done = subprocess.run(
        [sys.executable, "-m", "transfer_core.cli", "send", str(source), "--qr", "--json",
         "--server", "ws://127.0.0.1:9", "--link-base", "https://send.example.test/?x=1",
         "--connect-timeout", "3", "--no-storage"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin",
             "SGRAPH_SEND_STATE_DIR": str(tmp_path / "state")},
    )
    link = json.loads(done.stdout.splitlines()[0])["link"]
    assert link.startswith("https://send.example.test/?x=1#") and len(link.split("#")[1]) > 20
    blocks = [line for line in done.stderr.splitlines()
              if line and set(line) <= {" ", "\u2580", "\u2584", "\u2588"}]
    assert blocks, done.stderr[-2000:]
    rows = terminal_matrix(blocks)
    # module for module the symbol segno makes for the same link (as the page's is)
    assert strip_quiet_zone(rows) == qr_matrix(link)
    # and a real decoder reads the link, fragment included, off its pixels
    assert decode_image(matrix_image(rows)) == [link]
    assert done.returncode != 0  # the relay was unreachable, as intended
