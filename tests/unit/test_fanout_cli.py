"""`send --receivers N` (#15 §2): the combinations the CLI refuses, at once."""

from __future__ import annotations

import json

import pytest

from transfer_core.cli import EXIT_USAGE, main


@pytest.mark.parametrize("other", [["--resume", "x"], ["--code"]])
def test_receivers_with_resume_or_a_code_is_refused_before_connecting(tmp_path, capsys,
                                                                       other) -> None:
    # a send to several keeps no per-receiver state (nothing to resume), and a spoken code
    # admits one receiver: said before any connection (nothing listens on port 9)
    (tmp_path / "f.bin").write_bytes(b"x")
    code = main(["send", str(tmp_path / "f.bin"), "--receivers", "2", "--server",
                 "ws://127.0.0.1:9", "--json", *other])
    error = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == EXIT_USAGE, error
    assert error["error"] == "LinkError" and "--receivers takes a new link" in error["message"]
