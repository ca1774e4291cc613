"""The page's side of a transfer the sender controls (#15 §3): the two limit controls reach
the relay, the "Revoke" button deletes the stored transfer, and a receiving page shows
the closed link's own error (not "nothing is being sent")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.test_transfer_control import stored_keys, transfer_item
from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret

from .conftest import Stack
from .test_web_client import assert_fragment_stayed, open_send_page, random_file

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]


def test_page_limits_revoke_button_and_the_closed_link_error(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "board-minutes.pdf", 200_000)
    tab = new_tab()
    open_send_page(tab, f"{stack.info.web_url}?p2p=1")
    tab.page.fill("#downloads", "3")
    tab.page.select_option("#expires", "2h")
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    code = tab.sgraph("link").split("#", 1)[1]
    assert tab.wait_state("stored", "failed", timeout=30_000) == "stored", tab.sgraph("error")

    room = derive_keys(TransferSecret.parse(code)).room_id
    item = transfer_item(stack, room)
    assert item["downloads"] == {"N": "3"}, "the page's control reached the relay"
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 7200)) < 300
    until = tab.sgraph("summary.storedUntil")
    assert until == int(item["expires_at"]["N"]), "the page says when it really goes"

    assert stored_keys(stack, room), "the page stored the file"
    assert tab.page.is_visible("#revoke")
    tab.shot("control-1-stored-with-revoke")
    tab.page.click("#revoke")
    assert tab.wait_state("revoked", "failed", timeout=30_000) == "revoked", tab.sgraph("error")
    assert tab.sgraph("revoked") == "revoked" and stored_keys(stack, room) == []
    assert "Revoked" in tab.page.inner_text("#status")
    assert_fragment_stayed(tab, code, stack)

    receiving = new_tab()
    receiving.page.goto(f"{stack.info.web_url}#{code}")
    assert receiving.wait_state("failed", "done", timeout=30_000) == "failed"
    error = receiving.sgraph("error")
    assert error["kind"] == "closed" and error["code"] == "revoked", error
    assert receiving.page.inner_text("#error-title") == "The sender revoked this link"
    receiving.shot("control-2-revoked-link")
