"""moto's S3 holding multi-gigabyte objects as S3 does: on disk, read a range at a time.

moto (checked on 5.2.5) keeps an object, and each part of an upload, in a
`SpooledTemporaryFile`, on disk past `MOTO_S3_DEFAULT_KEY_BUFFER_SIZE` (5 MiB), but it
- joins every part of a completed multipart upload in memory, and again for the
  object's full-object checksum, then copies both: about four times the object's size
  at once (8 GiB for the 2 GiB transfer of tests/e2e/test_big_tree.py);
- reads the whole object into memory for every ranged GET, to slice the range out:
  a 2 GiB download in 8 MiB ranges read 512 GiB.
`install()` (run in moto's own process, devstack/moto_server.py) streams the parts into
the object's file, computing the checksum as they pass, and serves a single-range GET
from the range alone. Responses, ETags and checksums are moto's own; everything else
is moto unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
import threading
from typing import Any

from moto.core.compat import HAS_CRT
from moto.s3 import models, responses
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.settings import get_s3_default_key_buffer_size

CHUNK = 8 << 20
"""Bytes copied or checksummed at a time."""

_SINGLE_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class _Joined:
    """A completed upload's object, joined on disk: what the object's value is set from.

    Joined in `complete` itself: moto disposes of the parts before it stores the object."""

    def __init__(self) -> None:
        # the object's file from now on (closed by the object, or by `complete` on a refusal)
        self.file = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())  # noqa: SIM115
        self.size = 0

    def __len__(self) -> int:
        return self.size


class _Window:
    """An object's bytes, read from its file only where sliced (moto's ranged GET slices
    the object once, `content[begin:end + 1]`)."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __len__(self) -> int:
        return int(self.key.size)

    def __getitem__(self, where: slice) -> bytes:
        start, stop, step = where.indices(len(self))
        assert step == 1, "only a contiguous range is read"
        with self.key.lock:
            self.key._value_buffer.seek(start)
            return bytes(self.key._value_buffer.read(max(0, stop - start)))


def _chunks(key: Any) -> Any:
    with key.lock:
        key._value_buffer.seek(0)
        while block := key._value_buffer.read(CHUNK):
            yield block


class _FullObjectCrc:
    """moto's full-object CRC (CRC64NVME through awscrt, else CRC32, as moto falls back),
    computed as the parts pass instead of over the joined object."""

    def __init__(self, algorithm: str) -> None:
        self.crt = algorithm == "CRC64NVME" and HAS_CRT
        self.value = 0

    def update(self, block: bytes) -> None:
        if self.crt:
            from awscrt import checksums
            self.value = checksums.crc64nvme(block, self.value)
        else:
            self.value = binascii.crc32(block, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(8 if self.crt else 4, "big")


def _complete(self: Any, body: Any) -> tuple[_Joined, str, tuple[str, str, int] | None]:
    """`FakeMultipart.complete` joining the parts on disk, not in memory: the same checks,
    ETag and checksum."""
    builder = models.MultipartChecksumBuilder(self.metadata.get("x-amz-checksum-algorithm"),
                                              self.metadata.get("x-amz-checksum-type"))
    streamed = (builder.checksum_type == "FULL_OBJECT"
                and builder.checksum_algorithm in ("CRC64NVME", "CRC32"))
    crc = _FullObjectCrc(builder.checksum_algorithm) if streamed else None
    md5s = bytearray()
    parts: list[Any] = []
    joined = _Joined()
    try:
        for number, etag in body:
            part = self.parts.get(number)
            if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
                raise InvalidPart()
            if parts and parts[-1].contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            md5s.extend(bytes.fromhex(part.etag.replace('"', "")))
            for block in _chunks(part):
                joined.file.write(block)
                joined.size += len(block)
                if crc is not None:
                    crc.update(block)
            if crc is None:  # a checksum the client asked for: moto's own way (per part, or joined)
                builder.addPart(part.value)
            parts.append(part)
        if not parts:
            raise MalformedXML
    except BaseException:
        joined.file.close()
        raise
    checksum: tuple[str, str, int] | None
    if crc is not None:
        checksum = (builder.checksum_type, base64.b64encode(crc.digest()).decode(), 1)
    else:
        checksum = builder.build()
    full_etag = models.md5_hash()
    full_etag.update(bytes(md5s))
    return joined, f"{full_etag.hexdigest()}-{len(parts)}", checksum


_window = threading.local()


def install() -> None:
    """Patch moto's S3 in this process (moto's server; never the tests' in-process moto)."""
    value: Any = models.FakeKey.value  # a property: its fget and fset
    get_object = responses.S3Response.get_object

    def read_value(key: Any) -> Any:
        if getattr(_window, "open", False):
            return _Window(key)
        return value.fget(key)

    def write_value(key: Any, new: Any) -> None:
        if not isinstance(new, _Joined):
            value.fset(key, new)
            return
        key._value_buffer.close()
        key._value_buffer = new.file
        key.contentsize = new.size

    def ranged_get_object(self: Any) -> Any:
        # only a range `key_response` will surely slice: `bytes=A-` or `bytes=A-B`, A <= B
        match = _SINGLE_RANGE.fullmatch(self.headers.get("range", "") or "")
        _window.open = bool(match and (not match[2] or int(match[1]) <= int(match[2]))
                            and "partNumber" not in self.querystring)
        try:
            return get_object(self)
        finally:
            _window.open = False

    models.FakeKey.value = property(read_value, write_value)  # type: ignore[method-assign,assignment]
    models.FakeMultipart.complete = _complete  # type: ignore[method-assign,assignment]
    responses.S3Response.get_object = ranged_get_object  # type: ignore[method-assign]
