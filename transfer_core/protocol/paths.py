"""Which relative paths a receiver may write under its output folder (revision 2.1, #15).

Pure validation, shared by the sender (it refuses to send what a receiver would refuse)
and the receiver (it refuses the whole list before writing anything). Each refusal is an
`UnsafePathError` whose `reason` names the rule:

| reason | the path |
| --- | --- |
| `empty` | is empty |
| `too-long` | is over 4096 UTF-8 bytes, or has a segment over 255 |
| `unicode` | holds a lone surrogate (not valid Unicode) |
| `absolute` | begins with `/`, or with a drive (`C:`) |
| `separator` | holds `\\` (a separator on Windows) |
| `empty-segment` | holds `//` or ends with `/` |
| `dot-segment` | has a segment `.` or `..` |
| `control` | holds a control character (U+0000–U+001F, U+007F–U+009F) |
| `reserved-name` | has a segment Windows reserves for a device (`CON`, `nul.txt`, `COM1`, …) |
| `collision` | equals another entry's path compared case-insensitively after NFC |
| `file-in-file` | lies inside another entry that is a file |
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ..errors import UnsafePathError

MAX_PATH_BYTES = 4096
MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_DRIVE = re.compile(r"[A-Za-z]:")
_DEVICE = re.compile(
    r"(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$)",
    re.IGNORECASE,
)

__all__ = ["MAX_PATH_BYTES", "MAX_SEGMENT_BYTES", "check_path", "check_tree", "path_key"]


def _refuse(reason: str, path: str, message: str) -> UnsafePathError:
    return UnsafePathError(reason, path, message)


def _is_device(segment: str) -> bool:
    # Windows ignores an extension and trailing dots or spaces: `nul.txt`, `CON .` are CON
    stem = segment.split(".", 1)[0].rstrip(" .")
    return bool(_DEVICE.fullmatch(stem))


def check_path(path: str) -> list[str]:
    """The segments of `path` if a receiver may create it; else `UnsafePathError`."""
    if path == "":
        raise _refuse("empty", path, "the path is empty")
    if _SURROGATE.search(path):
        raise _refuse("unicode", path, "the path is not valid Unicode")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise _refuse("too-long", path, f"the path is over {MAX_PATH_BYTES} bytes")
    if path.startswith("/") or _DRIVE.match(path):
        raise _refuse("absolute", path, "the path is absolute")
    if "\\" in path:
        raise _refuse("separator", path, "the path holds a backslash")
    if _CONTROL.search(path):
        raise _refuse("control", path, "the path holds a control character")
    segments = path.split("/")
    for segment in segments:
        if segment == "":
            raise _refuse("empty-segment", path, "the path has an empty segment")
        if segment in (".", ".."):
            raise _refuse("dot-segment", path, f"the path has a {segment!r} segment")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise _refuse("too-long", path, f"a segment is over {MAX_SEGMENT_BYTES} bytes")
        if _is_device(segment):
            raise _refuse("reserved-name", path,
                          f"{segment!r} is a device name Windows reserves")
    return segments


def path_key(path: str) -> str:
    """What two paths are compared by: NFC, then case-folded (macOS and Windows file
    systems treat `Café`, `CAFÉ` and a decomposed `café` as one name)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def check_tree(entries: Iterable[tuple[str, bool]]) -> None:
    """Check every `(path, is_dir)` of a list and the list as a whole; `UnsafePathError`
    names the first path refused."""
    seen: dict[str, tuple[str, bool]] = {}
    for path, is_dir in entries:
        check_path(path)
        key = path_key(path)
        if key in seen:
            raise _refuse("collision", path, "another entry has the same name when case"
                          " and Unicode normalisation are ignored")
        seen[key] = (path, is_dir)
    for key, (path, _) in seen.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            parent = seen.get("/".join(parts[:depth]))
            if parent is not None and not parent[1]:
                raise _refuse("file-in-file", path, f"it lies inside {parent[0]!r}, a file")
