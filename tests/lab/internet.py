"""The lab's "internet" side, run inside its namespace: the local stack and coturn.

    ip netns exec <lab>-inet python -m tests.lab.internet --record FILE [--turn udp,tls]

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

from devstack.stack import DevStack
from devstack.turn import Coturn

from .netlab import INTERNET_ADDRESS, PUBLIC_NET


async def serve(args: argparse.Namespace) -> None:
    tls = (Path(args.cert), Path(args.key)) if args.cert else None
    extra = ("verbose",) if args.verbose_turn else ()
    # production's coturn configuration, with the lab's stand-in for the public internet
    # (a documentation range production denies) allowed as peers
    with Coturn.start(host=INTERNET_ADDRESS, tls=tls, extra=extra,
                      allowed_peer_networks=(str(PUBLIC_NET),)) as turn:
        env = {
            "STUN_URLS": f"stun:{INTERNET_ADDRESS}:{turn.port}",
            # in the order given: production lists UDP first, then TLS
            "TURN_URLS": ",".join(turn.url_for(t) for t in args.turn.split(",")),
            "TURN_SECRET": turn.secret,
            "TURN_CREDENTIAL_TTL_SECONDS": str(args.turn_ttl),
        }
        with open(args.record, "a") as record:
            # one worker: enough for two peers, and far quicker to start on a busy machine
            async with DevStack.start(host=INTERNET_ADDRESS, env=env, record=False,
                                      record_to=record, workers=1) as stack:
                print(json.dumps({**stack.info.to_dict(), "turn_port": turn.port,
                                  "turn_url": env["TURN_URLS"], "stun_url": env["STUN_URLS"],
                                  "turn_log": str(turn.workdir / "turn.log")}), flush=True)
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
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
