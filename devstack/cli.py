"""`devstack` command: start the whole local stack and print its WebSocket URL."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import IO, Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the `devstack` command."""
    parser.add_argument("--port", type=int, default=0, help="WebSocket port (default: any free)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; a network lab's own)")
    parser.add_argument("--workers", type=int, default=None, help="Lambda worker processes")
    parser.add_argument(
        "--idle-timeout", type=float, default=600.0, help="idle timeout in seconds (600)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra handler environment, e.g. MAX_RECEIVERS=2 (repeatable)",
    )
    parser.add_argument("--record", metavar="FILE", help="write every relayed frame as JSON lines")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line with the endpoints when ready"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the handlers' logs and metrics on stderr"
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `devstack` subcommand to a CLI's argparse subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "devstack", help="run the local stack (moto + WebSocket gateway + the real handlers)"
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT or SIGTERM."""
    from .stack import DevStack  # here: `sgraph-send send` need not import moto (#14)

    env = dict(item.split("=", 1) for item in args.env)
    record: IO[str] | None = open(args.record, "a") if args.record else None  # noqa: SIM115
    try:
        async with DevStack.start(
            port=args.port,
            host=args.host,
            workers=args.workers,
            idle_timeout=args.idle_timeout,
            env=env,
            record=False,
            record_to=record,
            handler_output=args.verbose,
        ) as stack:
            if args.json:
                print(json.dumps(stack.info.to_dict()), flush=True)
            else:
                info = stack.info
                print("SGraph Send local stack", flush=True)
                print(f"  WebSocket:   {info.ws_url}?role=<sender|receiver>"
                      "  (Sec-WebSocket-Protocol: sgraph-send.v2, sgraph-send.key.<room key>)")
                print(f"  @connections {info.management_url}")
                print(f"  moto (AWS)   {info.aws_endpoint_url}")
                print(f"  web page     {info.web_url}")
                print(f"  table {info.table_name}, bucket {info.bucket_name}, {info.region}")
                print("Ctrl-C to stop.", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
    finally:
        if record is not None:
            record.close()


def run(args: argparse.Namespace) -> int:
    """Entry for the subcommand."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack`."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
