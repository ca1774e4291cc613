"""The lab's "internet" side, run inside its namespace: the local stack and coturn.

    ip netns exec <lab>-inet python -m tests.lab.internet --record FILE [--turn udp,tls]
    ip netns exec <lab>-inet python -m tests.lab.internet --record FILE --turn-from JSON

Starts coturn (STUN and TURN with the REST secret) and the local stack (gateway +
moto + the real handlers), both on the internet address, the handlers offering the
lab's STUN and TURN in the welcome message. Prints one JSON line with the endpoints
when ready and runs until its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from devstack.stack import DevStack
from devstack.turn import Coturn

from .netlab import INTERNET_ADDRESS, PUBLIC_NET


async def serve(args: argparse.Namespace) -> None:
    if args.turn_from:  # a second stack beside a running internet side, sharing its coturn
        await run_stack(args, json.loads(Path(args.turn_from).read_text()))
        return
    tls = (Path(args.cert), Path(args.key)) if args.cert else None
    extra: tuple[str, ...] = ("verbose",) if args.verbose_turn else ()
    if args.max_allocate_lifetime:  # the last setting of a key is the one coturn keeps
        extra += (f"max-allocate-lifetime={args.max_allocate_lifetime}",)
    # production's coturn configuration, with the lab's stand-in for the public internet
    # (a documentation range production denies) allowed as peers
    with Coturn.start(host=INTERNET_ADDRESS, tls=tls, extra=extra,
                      allowed_peer_networks=(str(PUBLIC_NET),)) as turn:
        await run_stack(args, {
            "stun_url": f"stun:{INTERNET_ADDRESS}:{turn.port}",
            # in the order given: production lists UDP first, then TLS
            "turn_url": ",".join(turn.url_for(t) for t in args.turn.split(",")),
            "turn_secret": turn.secret, "turn_port": turn.port,
            "turn_log": str(turn.workdir / "turn.log"),
        })


async def run_stack(args: argparse.Namespace, turn: dict[str, Any]) -> None:
    """The stack, its handlers offering `turn`'s STUN and TURN; prints the endpoints."""
    env = {
        "STUN_URLS": turn["stun_url"],
        "TURN_URLS": turn["turn_url"],
        "TURN_SECRET": turn["turn_secret"],
        "TURN_CREDENTIAL_TTL_SECONDS": str(args.turn_ttl),
    }
    with open(args.record, "a") as record:
        # one worker: enough for two peers, and far quicker to start on a busy machine
        async with DevStack.start(host=INTERNET_ADDRESS, env=env, record=False,
                                  record_to=record, workers=1) as stack:
            print(json.dumps({**stack.info.to_dict(), **turn}), flush=True)
            await asyncio.to_thread(sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.internet")
    parser.add_argument("--record", required=True, help="JSON lines of every relayed frame")
    parser.add_argument("--turn", default="udp",
                        help="the TURN transports the relay offers, in order: udp, tcp, tls"
                             " (comma-separated)")
    parser.add_argument("--turn-ttl", type=int, default=3600, help="TURN credential lifetime")
    parser.add_argument("--cert", help="TLS certificate for turns: (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--verbose-turn", action="store_true", help="coturn's verbose log")
    parser.add_argument("--max-allocate-lifetime", type=int, default=0,
                        help="coturn's longest allocation lifetime (0: production's)")
    parser.add_argument("--turn-from", help="a JSON file with a running internet side's"
                                            " endpoints: reuse its coturn, start a stack only")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
