"""`sgraph-send`: send and receive files, end-to-end encrypted, peer to peer or through storage.

Exit codes: 0 done (for `send`: delivered, or stored for the receiver to fetch;
a re-run of a finished transfer says so); 1 unexpected failure; 2 a usage
problem the person can fix (bad link, file exists, missing file, nothing to
resume, a link with nothing stored: retrying cannot help, only a new send; and
limits the relay refuses); 3 verification refused (tampering, wrong key,
possible interception, a stored copy missing a part); 4 network (no server,
storage failing after retries, the sender gone before storing the rest); 5 the
link was closed by its sender's rules: expired, used up (`--downloads`), or
revoked (`--json` names which in the error's `reason`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Coroutine
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .cli_fanout import FanOutConsole, print_receivers
from .discovery import PageConfigError, discover, is_page_url
from .errors import (
    DestinationExistsError,
    HashMismatchError,
    LinkError,
    ManifestError,
    RecordError,
    SGraphSendError,
    SourceChangedError,
    WrongCodeError,
)
from .protocol.keys import derive_keys
from .protocol.layout import DEFAULT_RECORD_SIZE
from .protocol.secret import CODE_LENGTH, TransferSecret
from .protocol.spoken import SpokenCode, looks_spoken
from .protocol.tree import TreeManifest
from .qr import qr_terminal
from .s3.errors import StoredPartMissingError, TransferExpiredError
from .s3.http import redact_urls
from .session.base import PeerOptions
from .session.errors import AlreadyDoneError, PeerFailedError
from .session.fanout import FanOutSender, TooManyReceiversError
from .session.progress import EntryProgress
from .session.receiver import Receiver, receiver_token
from .session.report import TransferSummary
from .session.sender import NothingToResumeError, Sender
from .signalling.client import new_token
from .signalling.code_exchange import OfferedCode, offer_code, use_code
from .signalling.control import (
    DurationError,
    LimitsRefusedError,
    LinkClosedError,
    TransferLimits,
    parse_duration,
    revoke_link,
)
from .signalling.envelope import SignalError
from .sink import work_dir_for
from .transport.rate import parse_rate
from .tree_source import collect

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_VERIFICATION, EXIT_NETWORK = 0, 1, 2, 3, 4
EXIT_CLOSED = 5
SERVER_ENV = "SGRAPH_SEND_SERVER"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

console = Console(stderr=True)


def exit_code_for(exc: BaseException) -> int:
    """Map a failure to the exit code scripts can branch on."""
    if isinstance(exc, LinkClosedError):
        return EXIT_CLOSED
    if isinstance(exc, LimitsRefusedError):
        return EXIT_USAGE
    if isinstance(exc, LinkError | DestinationExistsError | FileNotFoundError | IsADirectoryError
                  | TransferExpiredError | NothingToResumeError | TooManyReceiversError):
        return EXIT_USAGE
    if isinstance(exc, PeerFailedError):
        return {"exists": EXIT_USAGE, "verification": EXIT_VERIFICATION}.get(exc.code, 4)
    if isinstance(exc, RecordError | HashMismatchError | ManifestError | SignalError
                  | SourceChangedError | WrongCodeError | StoredPartMissingError):
        return EXIT_VERIFICATION
    if isinstance(exc, SGraphSendError | OSError):
        return EXIT_NETWORK
    return EXIT_FAILURE


def advice_for(exc: BaseException) -> str:
    if isinstance(exc, WrongCodeError):
        return ("Wrong code: the two sides typed different codes, or someone in between"
                " guessed and failed. Nothing was sent. The code is used up; the sender"
                " makes a new one with `send FILE --code`.")
    if isinstance(exc, PageConfigError):
        return ("A link's address must be a SGraph Send page (it serves config.json); or pass"
                f" --server with the deployment's page or wss:// URL (or set {SERVER_ENV}).")
    if isinstance(exc, SignalError):
        return ("The connection was refused because a signalling message was altered or "
                "replayed on its way (possible interception). Nothing was sent. Try again, "
                "ideally from another network.")
    if isinstance(exc, LinkError):
        return "Check that the whole link or code was copied."
    if isinstance(exc, DestinationExistsError):
        return "Pass --force to overwrite it, or choose another folder with -o."
    if isinstance(exc, TransferExpiredError):
        return ("Stored transfers are kept for 7 days. Ask the sender to send the file again"
                " (a new link).")
    if isinstance(exc, TooManyReceiversError):
        return "Ask for fewer receivers, or raise maxReceivers in the stack's cdk.json."
    if isinstance(exc, NothingToResumeError):
        return "Send the file as a new transfer (without --resume)."
    if isinstance(exc, LinkClosedError):
        return "Nothing is left to fetch on this link. Ask the sender for a new link."
    if isinstance(exc, LimitsRefusedError):
        return "Choose a shorter --expires (or fewer --downloads) and send again."
    if isinstance(exc, StoredPartMissingError):
        return ("What arrived is kept. Ask the sender to store the rest again (send --resume"
                " with the same link), or to send the file again.")
    if isinstance(exc, RecordError | HashMismatchError):
        return "Nothing unverified was saved. Ask the sender to send the file again."
    return "Run the same command again to resume; what arrived so far is kept."


class ConsoleReporter:
    """Progress on stderr with rich: bytes, rate, ETA; status lines above it."""

    def __init__(self, label: str, quiet: bool, json_lines: bool = False) -> None:
        self.quiet = quiet
        self.json = json_lines
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=False,
            disable=quiet,
        )
        self._task = self._progress.add_task(label, total=None)

    def __enter__(self) -> ConsoleReporter:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def status(self, text: str) -> None:
        if not self.quiet:
            self._progress.console.print(f"[dim]•[/dim] {text}")

    def progress(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)
        if self._entries is not None:
            self._show_entry(done, total)

    # --- many files (#15): the entry being sent or received, and the whole ---------

    _entries: EntryProgress | None = None

    def manifest(self, manifest: object) -> None:
        """The transfer's manifest is known: with many files, show which one is moving."""
        if isinstance(manifest, TreeManifest):
            self._entries = EntryProgress(manifest)

    def _show_entry(self, done: int, total: int) -> None:
        assert self._entries is not None
        update = self._entries.update(done, total)
        if update is None:
            return
        if self.quiet:
            if self.json:
                print(json.dumps({"event": "progress", **update}), flush=True)
        else:
            self._progress.update(
                self._task, description=f"{update['entry']} ({update['entry_index'] + 1}"
                                        f"/{update['entries']})")


async def _endpoints(args: argparse.Namespace, link: str | None = None) -> tuple[str, str | None]:
    """(signalling URL, the deployment's page or None), from --server, the link, or the env.

    An explicit --server wins; else a link names its own deployment (its page's
    config.json); else $SGRAPH_SEND_SERVER. A server given as a page address is
    looked up the same way (transfer_core/discovery.py).
    """
    given = args.server
    if not given and link is not None and is_page_url(link):
        given = link
    given = given or os.environ.get(SERVER_ENV)
    if not given:
        raise LinkError(
            f"no signalling server: pass --server URL (the page's address or its wss:// URL)"
            f" or set {SERVER_ENV} (run `sgraph-send devstack` for a local one)"
        )
    if is_page_url(given):
        deployment = await asyncio.to_thread(discover, given)
        return deployment.server, deployment.page
    return str(given), None


def _options(args: argparse.Namespace, server: str) -> PeerOptions:
    local = args.ice == "local" or (
        args.ice == "auto" and (urlparse(server).hostname or "") in _LOOPBACK
    )
    return PeerOptions(server_url=server, local_only=local,
                       connect_timeout=args.connect_timeout,
                       reconnect_grace=args.reconnect_grace,
                       p2p_timeout=getattr(args, "p2p_timeout", 10.0),
                       storage=not args.no_storage, relay_only=args.relay_only,
                       limit_rate=args.limit_rate, limits=_limits(args))


def _limits(args: argparse.Namespace) -> TransferLimits | None:
    """The sender's `--downloads` / `--expires`, if it gave either."""
    downloads, expires = getattr(args, "downloads", None), getattr(args, "expires", None)
    if downloads is None and expires is None:
        return None
    return TransferLimits(downloads, expires)


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of downloads (1 or more)")
    return int(text)


def _emit(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(doc), flush=True)


def _print_summary(args: argparse.Namespace, summary: TransferSummary) -> None:
    _emit(args, {"event": "summary", **summary.to_json()})
    if args.json:
        return
    how = {"p2p": "directly, peer to peer", "s3": "through storage (S3)",
           "p2p+s3": "partly peer to peer, partly through storage"}.get(summary.path,
                                                                        summary.path)
    if summary.route and summary.chunks.get("p2p"):
        relayed = "relay" in summary.route.split("/")
        packets = f", {summary.packet_size:,}-byte packets" if summary.packet_size else ""
        if summary.window_bytes:
            packets += f", a {summary.window_bytes / 2**20:.1f} MiB window"
        how += f" ({'through a TURN relay, ' if relayed else ''}{summary.route}{packets})"
    verb = "Sent" if summary.role == "sender" else "Received"
    console.print(
        f"[bold green]{verb}[/] {summary.name} ({summary.size / 2**20:.1f} MiB) {how} "
        f"in {summary.seconds:.1f} s, {summary.mb_per_s:.1f} MB/s."
    )
    checked = "verified by the receiver" if summary.role == "sender" else "verified"
    # the sender knows what it sent twice; a receiver only what reached it twice
    again = ("re-sent bytes" if summary.role == "sender" else "bytes that arrived twice")
    console.print(f"  SHA-256 {checked}; chunks by path: {summary.chunks};"
                  f" reconnects: {summary.reconnects}; {again}: {summary.resent_bytes}")
    if summary.destination:
        console.print(f"  saved to {summary.destination}")
    if summary.receipts and summary.receivers is None:
        who = "sent" if summary.role == "receiver" else "verified"
        console.print(f"  signed receipt {who} (receiver {summary.receipts[0]['receiver']})")
    _print_entries(summary)


ENTRIES_SHOWN = 20


def _print_entries(summary: TransferSummary) -> None:
    """Many files: list them (the first `ENTRIES_SHOWN`; `--json` lists them all)."""
    if not summary.entries:
        return
    files = [e for e in summary.entries if e["kind"] == "file"]
    folders = len(summary.entries) - len(files)
    console.print(f"  {len(files)} files and {folders} folders:")
    for entry in summary.entries[:ENTRIES_SHOWN]:
        slash = "/" if entry["kind"] == "dir" else f"  ({entry['size']} bytes)"
        console.print(f"    {escape(entry['path'])}{slash}")
    if len(summary.entries) > ENTRIES_SHOWN:
        console.print(f"    … and {len(summary.entries) - ENTRIES_SHOWN} more")


def _print_stored(args: argparse.Namespace, summary: TransferSummary) -> None:
    until = _utc(summary.stored_until or 0)
    _emit(args, {"event": "summary", **summary.to_json(), "stored_until_utc": until})
    if args.json:
        return
    direct = summary.chunks.get("p2p", 0)
    how = (f"{direct} records went directly; the other {summary.chunks.get('s3', 0)}"
           if direct else "The encrypted file")
    console.print(f"[bold yellow]Waiting:[/] {how} are stored, encrypted, for the receiver.")
    console.print(f"  The receiver can fetch {summary.name} with the same link until {until}.")
    if getattr(args, "downloads", None):
        console.print(f"  It is deleted after {args.downloads} completed download(s);"
                      " `sgraph-send revoke LINK` deletes it now.")


def _utc(epoch: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def hints(path: Path | list[Path], code: str, server: str) -> tuple[str, str]:
    """The receive and resume commands the sender prints: they work pasted as they are,
    whatever the code begins with (`--resume=CODE`, and `--` before a bare code)."""
    quoted = " ".join(shlex.quote(str(p)) for p in (path if isinstance(path, list) else [path]))
    return (f"sgraph-send receive --server {shlex.quote(server)} -- {code}",
            f"sgraph-send send {quoted} --server {shlex.quote(server)} --resume={code}")


def _show_qr(link: str | None) -> None:
    """The link as a QR code on stderr (stdout stays JSON lines with --json)."""
    if link is None:
        console.print("No link to show as a QR code (no page address for this server).")
        return
    sys.stderr.write(qr_terminal(link))
    sys.stderr.flush()


async def _send(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.files]
    if len(paths) == 1 and not paths[0].is_dir():
        path: Path | list[Path] = paths[0]
        if not paths[0].is_file():
            raise FileNotFoundError(f"{paths[0]} is not a file")
    else:  # several files, or a folder: one transfer of them all (#15)
        path = paths
        found = await asyncio.to_thread(collect, paths)  # unsafe names refused here, early
        for skipped, why in found.skipped:
            _emit(args, {"event": "skipped", "path": str(skipped), "reason": why})
            if not args.json:
                console.print(f"[yellow]Skipped[/] {escape(str(skipped))}: {why}")
    if args.code and args.resume:
        raise LinkError("--code starts a new transfer; --resume takes the link of an earlier one")
    if args.receivers > 1 and (args.code or args.resume):  # before any connection
        raise LinkError("--receivers takes a new link: it does not mix with --code (a"
                        " spoken code admits one receiver) or --resume (a send to several"
                        " keeps no per-receiver state to resume from)")
    server, page = await _endpoints(args, args.resume)
    page = args.link_base or page
    offered: OfferedCode | None = None
    if args.code:
        offered = await offer_code(server, lambda code, until: _show_code(args, path, code,
                                                                          until, server))
        secret = offered.secret
    # --resume takes up the earlier transfer of a link (same transfer id, re-hashed file)
    elif args.resume:
        secret = TransferSecret.parse(args.resume)
    else:
        secret = TransferSecret.generate()
    keys = derive_keys(secret)
    # a link is the deployment's own page plus the code; no page known, no link
    link = secret.link(page) if page else None
    where = args.server or server
    _emit(args, {"event": "link", "link": link, "code": secret.code})
    receive_hint, resume_hint = hints(path, secret.code, where)
    if offered is not None and not args.json:
        console.print("[bold green]Code accepted.[/] The receiver's key matches.")
        console.print(f"  if this stops, finish with: {resume_hint}")
    elif not args.json:
        if link:
            console.print(f"[bold]Share this link:[/] {link}")
            receive_hint = f"sgraph-send receive {shlex.quote(link)}"
        else:
            console.print("No page address for this server (pass --page URL, or --server"
                          " with the deployment's page address), so no link: share the code.")
        console.print(f"  or the code: [bold]{secret.code}[/]")
        console.print(f"  receive with: {receive_hint}")
        console.print(f"  if this stops, finish with: {resume_hint}")
    if args.qr:
        _show_qr(link)
    if args.receivers > 1:
        return await _send_many(args, path, keys, server)
    try:
        label = path.name if isinstance(path, Path) else f"{len(paths)} paths"
        with ConsoleReporter(f"sending {label}", args.json, args.json) as reporter:
            sender = Sender(path, keys, new_token(), _options(args, server), reporter,
                            preferred_record_size=args.record_size * 1024,
                            resume=bool(args.resume))
            if offered is None:
                summary = await sender.run()
            else:
                summary = await _run_after_code(sender, offered)
    except AlreadyDoneError as done:
        _print_done(args, done)
        return EXIT_OK
    if summary.stored_until is not None:
        _print_stored(args, summary)
    else:
        _print_summary(args, summary)
    return EXIT_OK


async def _send_many(args: argparse.Namespace, path: Path | list[Path], keys: Any,
                     server: str) -> int:
    """`send --receivers N`: a channel to each receiver (session.fanout, #15)."""
    with FanOutConsole(console, args.json) as display:
        sender = FanOutSender(path, keys, new_token(), _options(args, server), args.receivers,
                              display, preferred_record_size=args.record_size * 1024)
        summary = await sender.run()
    if summary.stored_until is not None:
        _print_stored(args, summary)
    else:
        _print_summary(args, summary)
    if not args.json:
        print_receivers(console, summary)
    return EXIT_OK


def _show_code(args: argparse.Namespace, path: Path | list[Path], code: SpokenCode, until: int,
               server: str) -> None:
    _emit(args, {"event": "code", "code": str(code), "expires_at": until})
    if not args.json:
        console.print(f"[bold]Tell the receiver this code:[/] {code}")
        console.print(f"  receive with: sgraph-send receive {code} --server {server}")
        console.print(f"  (or type it into the page's code box; valid until {_utc(until)})")


async def _run_after_code(sender: Sender, offered: OfferedCode) -> TransferSummary:
    """Run the transfer; leave the code's room once in the transfer's (the receiver's cue)."""
    task = asyncio.ensure_future(sender.run())
    joined = asyncio.ensure_future(sender.joined.wait())
    try:
        await asyncio.wait({task, joined}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        joined.cancel()
        await offered.release()
    return await task


async def _receive(args: argparse.Namespace) -> int:
    if looks_spoken(args.link):
        server, _ = await _endpoints(args)
        secret = await use_code(server, SpokenCode.parse(args.link))
        _emit(args, {"event": "link", "code": secret.code})
        if not args.json:
            console.print("[bold green]Code accepted.[/] To resume later: sgraph-send receive"
                          f" {secret.code} --server {args.server or server}")
    else:
        secret = TransferSecret.parse(args.link)
        server, _ = await _endpoints(args, args.link)
    keys = derive_keys(secret)
    out_dir = Path(args.output)
    # folders are made only once there is something to keep (the manifest has arrived)
    token = receiver_token(work_dir_for(out_dir, keys.room_id))
    try:
        with ConsoleReporter("receiving", args.json, args.json) as reporter:
            receiver = Receiver(keys, out_dir, token, _options(args, server), reporter,
                                force=args.force, drop_after_bytes=args.fault_drop_after)
            summary = await receiver.run()
    except AlreadyDoneError as done:
        _print_done(args, done)
        return EXIT_OK
    _print_summary(args, summary)
    return EXIT_OK


async def _revoke(args: argparse.Namespace) -> int:
    """Delete the stored transfer of a link now; its receivers then get `link-revoked`."""
    secret = TransferSecret.parse(args.link)
    server, _ = await _endpoints(args, args.link)
    closed = await revoke_link(server, derive_keys(secret).room_key, new_token())
    _emit(args, {"event": "revoked", "closed": closed})
    if not args.json:
        if closed == "revoked":
            console.print("[bold green]Revoked.[/] Whatever was stored for this link is deleted;"
                          " opening it now says so.")
        else:
            console.print(f"This link was already closed ({closed}); nothing is stored for it.")
    return EXIT_OK


def _print_done(args: argparse.Namespace, done: AlreadyDoneError) -> None:
    """A re-run after the transfer finished: say so (exit 0: the file is where it was)."""
    _emit(args, {"event": "complete", "message": str(done), "name": done.record.name,
                 "destination": done.record.destination})
    if not args.json:
        console.print(f"[bold green]Complete:[/] {done}")


def _rate(text: str) -> int:
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="the deployment's page address (https://…/) or its"
                        f" signalling wss:// URL (default: the link's page, then ${SERVER_ENV})")
    parser.add_argument("--ice", choices=("auto", "local", "any"), default="auto",
                        help="'local' pairs over 127.0.0.1 only; 'auto' does so for a"
                             " loopback server")
    parser.add_argument("--json", action="store_true", help="print JSON lines, not a display")
    parser.add_argument("--connect-timeout", type=float, default=15.0, help=argparse.SUPPRESS)
    parser.add_argument("--reconnect-grace", type=float, default=60.0,
                        help="seconds to wait for the other side after a break; then"
                             " storage (S3) carries the rest")
    parser.add_argument("--relay-only", action="store_true",
                        help="privacy: connect only through the TURN relay, so the other"
                             " side never learns your address")
    parser.add_argument("--limit-rate", type=_rate, default=None, metavar="RATE",
                        help="cap this side's peer-to-peer rate, e.g. 500K or 4M (bytes per"
                             " second); storage (S3) is not paced")
    parser.add_argument("--no-storage", action="store_true",
                        help="peer to peer only: never store the file in S3")
    parser.add_argument("-v", "--verbose", action="count", default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgraph-send", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send", help="send a file; prints the link to share")
    send.add_argument("files", nargs="+", metavar="PATH",
                      help="a file, or several files and folders (sent as one transfer;"
                           " symbolic links inside folders are skipped, not followed)")
    send.add_argument("--page", "--link-base", dest="link_base", default=None,
                      help="the page links point at (default: the deployment's, when --server"
                           " is its page address)")
    send.add_argument("--record-size", type=int, default=DEFAULT_RECORD_SIZE // 1024,
                      choices=(16, 32, 64, 128, 256),
                      help="preferred record size in KiB (the peer may lower it)")
    send.add_argument("--p2p-timeout", type=float, default=10.0,
                      help="seconds for the receiver to connect before the file is stored"
                           " for it instead (S3)")
    send.add_argument("--qr", action="store_true",
                      help="also print the link as a QR code (for a phone to scan)")
    send.add_argument("--receivers", type=_receivers, default=1, metavar="N",
                      help="send to N receivers, each over its own connection (up to the"
                           " server's maxReceivers)")
    send.add_argument("--code", action="store_true",
                      help="share a short code to read aloud (7-guitarist-revenge-amulet)"
                           " instead of a link")
    send.add_argument("--resume", metavar="LINK", default=None,
                      help="finish an earlier transfer of this file on its link (after the"
                           " sender stopped): directly if the receiver is there, else stored")
    send.add_argument("--downloads", metavar="N", type=_count, default=None,
                      help="delete the stored file after N completed downloads")
    send.add_argument("--expires", metavar="DURATION", type=_duration, default=None,
                      help="delete the stored file after this long (30m, 2h, 7d; at most"
                           " what the server keeps, 7 days by default)")
    _common(send)
    send.set_defaults(func=_send)
    receive = sub.add_parser("receive", help="receive a file from a link or code")
    receive.add_argument("link", help="the share link, its bare code, or a spoken code"
                                      " (7-guitarist-revenge-amulet)")
    receive.add_argument("-o", "--output", default=".", help="folder to save into")
    receive.add_argument("--force", action="store_true", help="overwrite an existing file")
    # fault injection for the demo and tests: drop the channel once after N bytes
    receive.add_argument("--fault-drop-after", type=int, default=None, help=argparse.SUPPRESS)
    _common(receive)
    receive.set_defaults(func=_receive)
    revoke = sub.add_parser("revoke", help="delete a link's stored file now")
    revoke.add_argument("link", help="the share link or its bare code")
    revoke.add_argument("--server", help="the deployment's page address or its wss:// URL"
                        f" (default: the link's page, then ${SERVER_ENV})")
    revoke.add_argument("--json", action="store_true", help="print JSON lines")
    revoke.add_argument("-v", "--verbose", action="count", default=0)
    revoke.set_defaults(func=_revoke)
    # other packages (the local stack) add their commands through an entry point, so
    # this library never imports them
    for plugin in entry_points(group="sgraph_send.commands"):
        plugin.load()(sub)
    return parser


def _receivers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _is_code(arg: str) -> bool:
    try:
        TransferSecret.parse(arg)
    except LinkError:
        return False
    return True


def codes_as_operands(argv: list[str]) -> list[str]:
    """Rewrite bare codes that begin with `-` (1 in 64 of older codes) so argparse reads
    them as values, not options: `--resume CODE` becomes `--resume=CODE`, a positional
    code moves after `--` at the end."""
    out: list[str] = []
    trailing: list[str] = []
    for arg in argv:
        if arg.startswith("-") and len(arg) == CODE_LENGTH and _is_code(arg):
            if out and out[-1] == "--resume":
                out[-1] = f"--resume={arg}"
            else:
                trailing.append(arg)
        else:
            out.append(arg)
    if trailing and "--" not in out:
        out.append("--")
    return out + trailing


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(codes_as_operands(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # urllib3 logs each request line, presigned query (a credential) included
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    runner: Callable[[argparse.Namespace], Any] = args.func
    try:
        result = runner(args)
        code = _run(result) if asyncio.iscoroutine(result) else int(result or 0)
    except KeyboardInterrupt:
        console.print("[yellow]Stopped.[/] Run the same command again to resume.")
        return 130
    except Exception as exc:  # every failure ends as one sentence, never a traceback
        code = exit_code_for(exc)
        logging.getLogger(__name__).debug("failure (%s)", type(exc).__name__)
        # a presigned URL is a credential: never printed, even from a library's message
        message = redact_urls(str(exc))[:400]
        if getattr(args, "json", False):
            doc = {"event": "error", "error": type(exc).__name__, "message": message,
                   "exit_code": code}
            if isinstance(exc, LinkClosedError):
                doc["reason"] = exc.reason  # expired | used-up | revoked
            print(json.dumps(doc), flush=True)
        console.print(f"[bold red]Error:[/] {escape(message)}")
        console.print(f"  {advice_for(exc)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
