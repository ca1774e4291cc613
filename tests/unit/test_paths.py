"""Which entry paths a receiver refuses (protocol/paths.py, #15): one case per rule."""

from __future__ import annotations

import pytest

from transfer_core.errors import ManifestError, UnsafePathError
from transfer_core.protocol.paths import check_path, check_tree


@pytest.mark.parametrize("path", [
    "a.txt", "photos/2026/a.jpg", "résumé ✓.pdf", "con-notes.txt", "CONSOLE", "a..b",
    ".hidden", "folder/.git/config", "COM10", "nul-and-void", "x" * 255,
])
def test_safe_paths_pass(path):
    assert check_path(path) == path.split("/")


@pytest.mark.parametrize("path, reason", [
    ("", "empty"),
    ("/etc/passwd", "absolute"),
    ("C:/Windows/win.ini", "absolute"),
    ("c:evil", "absolute"),
    ("..", "dot-segment"),
    ("../outside", "dot-segment"),
    ("a/../../outside", "dot-segment"),
    ("a/./b", "dot-segment"),
    ("a//b", "empty-segment"),
    ("a/", "empty-segment"),
    ("a\\b", "separator"),
    ("..\\outside", "separator"),
    ("a\x00b", "control"),
    ("line\nbreak", "control"),
    ("tab\there", "control"),
    ("del\x7f", "control"),
    ("c1\x85", "control"),
    ("CON", "reserved-name"),
    ("con", "reserved-name"),
    ("nul.txt", "reserved-name"),
    ("folder/PRN", "reserved-name"),
    ("AUX.tar.gz", "reserved-name"),
    ("COM1", "reserved-name"),
    ("lpt9.log", "reserved-name"),
    ("COM\u00b9", "reserved-name"),
    ("CON .txt", "reserved-name"),
    ("nul.", "reserved-name"),
    ("CONIN$", "reserved-name"),
    ("lone\udc80surrogate", "unicode"),
    ("x" * 256, "too-long"),
    ("/".join(["d" * 200] * 21), "too-long"),
])
def test_each_unsafe_path_is_refused_with_its_reason(path, reason):
    with pytest.raises(UnsafePathError) as caught:
        check_path(path)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ManifestError)  # a receiver's *manifest* error


@pytest.mark.parametrize("entries, reason", [
    ([("Report.pdf", False), ("report.PDF", False)], "collision"),
    ([("café.txt", False), ("cafe\u0301.txt", False)], "collision"),  # NFC vs NFD
    ([("Straße", True), ("STRASSE", True)], "collision"),  # case folding, not lower()
    ([("photos", True), ("Photos", False)], "collision"),
    ([("a.txt", False), ("a.txt", False)], "collision"),
    ([("notes", False), ("notes/inside.txt", False)], "file-in-file"),
    ([("Notes", False), ("notes/inside.txt", False)], "file-in-file"),
])
def test_lists_that_clash_are_refused(entries, reason):
    with pytest.raises(UnsafePathError) as caught:
        check_tree(entries)
    assert caught.value.reason == reason


def test_a_folder_and_its_contents_pass():
    check_tree([("photos", True), ("photos/a.jpg", False), ("Photos2", True),
                ("photos/sub", True), ("photos/sub/b.jpg", False)])
