"""A network namespace holding only `lo`, for Chromium's WebRTC on this machine.

Chromium gathers host candidates on every interface but the loopback one, so two pages,
or a page and an aiortc peer, would pair over the machine's own address (it is local,
and the kernel routes it through `lo`, but it is an address other than 127.0.0.1, which
the project's tests never target). Two things make Chromium pair over 127.0.0.1 alone:

- the tests' processes (the local stack, coturn, Chromium, the CLI) run in a namespace
  of their own whose only interface is `lo`: there is no other address to gather;
- Chromium is started with `--allow-loopback-in-peer-connection`, and the origin is
  granted microphone permission (`LOOPBACK_PERMISSIONS`): without a media permission
  Chromium exposes only the default route's interface to a page, and `lo` is none.
  Nothing is captured; the page never asks for a device.

Namespaces belong to a thread: `enter()` moves the calling (main) thread, and every
process and thread it starts afterwards, into the new namespace; `leave()` moves it
back (the lab's fixtures call it, since they build their namespaces from the
machine's). Root only, as the lab.
"""

from __future__ import annotations

import ctypes
import os
import subprocess

__all__ = ["LOOPBACK_FLAGS", "LOOPBACK_PERMISSIONS", "enter", "leave"]

LOOPBACK_FLAGS = ["--allow-loopback-in-peer-connection"]
LOOPBACK_PERMISSIONS = ["microphone"]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_left: list[int] = []
"""File descriptors of the namespaces `enter()` left, innermost last."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)} (the browser tests run as root)")


def enter() -> None:
    """Move this thread into a new network namespace with `lo` up and nothing else."""
    before = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    except BaseException:
        os.close(before)
        raise
    _left.append(before)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    shown = subprocess.run(["ip", "-o", "addr", "show"], check=True, capture_output=True,
                           text=True).stdout.split()
    addresses = {word.split("/")[0] for before, word in zip(shown, shown[1:], strict=False)
                 if before in ("inet", "inet6")}
    if addresses != {"127.0.0.1", "::1"}:
        raise OSError(f"the loopback-only namespace has other addresses: {sorted(addresses)}")


def leave() -> None:
    """Back to the namespace `enter()` left (nothing if it was not entered)."""
    while _left:
        fd = _left.pop()
        try:
            _check(_libc.setns(fd, _CLONE_NEWNET), "setns")
        finally:
            os.close(fd)
