"""Delay and loss for a lab router, in user space over a TUN device (no `netem` here).

    ip netns exec <router> python -m tests.lab.impair --delay-ms 40 --loss 0.01

Run inside a router namespace after `Lab.impair(lan, ...)` routed the router's
forwarded traffic into the TUN device `imp0`: every packet the router forwards (LAN
to internet and back) is read here, dropped with probability `--loss`, held for
`--delay-ms` (plus up to `--jitter-ms`, order kept), and written back into `imp0`,
from where the kernel forwards it on (NAT included). A round trip between two
impaired routers therefore costs 4 × delay. Prints one JSON line when ready and,
when stdin closes, one with its packet counts and the CPU seconds it used, so a
benchmark can report the impairment's own cost apart from the peers'.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import os
import random
import resource
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
NAME = "imp0"


def open_tun(name: str = NAME) -> int:
    """Create the TUN device `name` in this namespace; its file descriptor."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def run(fd: int, delay: float, jitter: float, loss: float, stop_fd: int) -> dict[str, int]:
    """Forward until `stop_fd` is readable (EOF); the counts."""
    held: collections.deque[tuple[float, bytes]] = collections.deque()
    rng = random.Random()
    counts = {"packets": 0, "dropped": 0, "bytes": 0}
    last_due = 0.0
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, packet = held.popleft()
            with contextlib.suppress(BlockingIOError):  # a full queue: a loss, as on a link
                os.write(fd, packet)
        timeout = max(0.0, held[0][0] - now) if held else 0.5
        readable, _, _ = select.select([fd, stop_fd], [], [], timeout)
        if stop_fd in readable:
            return counts
        if fd not in readable:
            continue
        now = time.monotonic()
        for _ in range(256):  # a burst per wake-up
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                break
            counts["packets"] += 1
            counts["bytes"] += len(packet)
            if loss and rng.random() < loss:
                counts["dropped"] += 1
                continue
            due = now + delay + (rng.random() * jitter if jitter else 0.0)
            last_due = max(last_due, due)  # jitter never reorders (like netem's default)
            held.append((last_due, packet))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.impair")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay added")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="up to this much more")
    parser.add_argument("--loss", type=float, default=0.0, help="drop probability per packet")
    args = parser.parse_args()
    fd = open_tun()
    print(json.dumps({"event": "ready", "device": NAME}), flush=True)
    counts = run(fd, args.delay_ms / 1000, args.jitter_ms / 1000, args.loss, sys.stdin.fileno())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"event": "stats", **counts,
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                      "user_s": round(usage.ru_utime, 3), "sys_s": round(usage.ru_stime, 3)}),
          flush=True)


if __name__ == "__main__":
    main()
