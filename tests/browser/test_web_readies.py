"""The sending page answers a receiver's newest `ready` only (as the CLI's sender): a
receiver sends a new `ready` each time it gives an attempt up, and a sender answering the
queued ones in order would spend a connect timeout on each, never catching up."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret
from transfer_core.signalling.client import SignalClient, SignalReceived, new_token
from transfer_core.signalling.envelope import SignedMessage, new_nonce

from .conftest import Stack
from .test_web_client import open_send_page, random_file

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]


async def offers_to_three_readies(ws_url: str, code: str) -> tuple[list[str], list[str]]:
    """A receiver (signalling only, no WebRTC) sends one `ready`, and two more while the
    page is connecting on the first; returns its nonces and what each offer replied to."""
    keys = derive_keys(TransferSecret.parse(code))
    client = await SignalClient.connect(ws_url, keys.room_key, "receiver", new_token())
    try:
        welcome = await client.hello()
        sender = next(p.id for p in welcome.peers if p.role == "sender")
        nonces = [new_nonce() for _ in range(3)]

        async def ready(nonce: str) -> None:
            message = SignedMessage("ready", "receiver", nonce)
            await client.signal(message.to_payload(keys.signal_key), to=sender)

        async def next_offer() -> str:
            async for event in client.iter_events():
                if isinstance(event, SignalReceived):
                    message = SignedMessage.from_payload(event.payload, keys.signal_key,
                                                         author="sender")
                    if message.kind == "offer":
                        return message.reply_to
            raise AssertionError("the relay closed before an offer came")

        await ready(nonces[0])
        answered = [await asyncio.wait_for(next_offer(), 30)]
        # the first attempt is never answered: the page waits out its connect timeout
        # (15 s) with the two later readies queued, then must answer the newest alone
        await ready(nonces[1])
        # the relay handles each message as it arrives, so two sent back to back may reach
        # the page in either order (signalling.md §3); a real receiver's readies are a
        # connect timeout apart. A second apart, both still land within the page's 15 s.
        await asyncio.sleep(1.0)
        await ready(nonces[2])
        answered.append(await asyncio.wait_for(next_offer(), 60))
        return nonces, answered
    finally:
        await client.close()


def test_page_answers_the_newest_ready_only(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "newest.bin", 4096)
    tab = new_tab()
    open_send_page(tab, f"{stack.info.web_url}?storage=0")
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    tab.wait_state("waiting")  # in its room: the link shows before the page has joined
    code = tab.sgraph("link").split("#", 1)[1]
    # a thread of its own for the receiver's loop (sync Playwright holds this one); it
    # inherits this thread's loopback-only network namespace
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        nonces, answered = asyncio.run_coroutine_threadsafe(
            offers_to_three_readies(stack.info.ws_url, code), loop).result(100)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert answered == [nonces[0], nonces[2]], (nonces, answered, tab.console[-20:])
