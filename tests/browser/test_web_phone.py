"""Phones and reloads (#15 §4): the link as a QR code, the page at phone width, a
receiving page that resumes after a reload, a sending page that resumes its upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qr_decode import decode_png
from transfer_core.qr import qr_matrix, qr_symbol

from .conftest import SCREENSHOTS, Stack, Tab
from .test_web_client import open_send_page, random_file

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(180)]

PHONE = {"width": 390, "height": 844}


def assert_fits_phone(tab: Tab, *visible: str) -> None:
    """Nothing wider than the 390 px screen; the named controls shown and on screen."""
    widths = tab.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth]")
    assert max(widths) <= PHONE["width"], widths
    for selector in visible:
        box = tab.page.locator(selector).bounding_box()
        assert tab.page.is_visible(selector) and box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)


def phone_shot(tab: Tab, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    tab.page.screenshot(path=str(path), full_page=True)
    tab.shot(name)  # and beside the other screenshots (test-output/screenshots/)
    return path


def test_send_page_at_phone_width_shows_the_link_as_a_qr_code(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    tab = new_tab()
    tab.page.set_viewport_size(PHONE)
    open_send_page(tab, f"{stack.info.web_url}?storage=0")
    assert_fits_phone(tab, "#drop", "#code-input", "#code-go", "#use-code")
    phone_shot(tab, tmp_path, "phone-1-send-idle")
    tab.page.set_input_files("#file", str(random_file(tmp_path, "holiday photo.jpg", 5000)))
    tab.page.wait_for_function("() => window.sgraph.qr")
    tab.wait_state("waiting")
    link = tab.sgraph("link")
    assert_fits_phone(tab, "#link", "#copy", "#qr", "#progress")
    shot = phone_shot(tab, tmp_path, "phone-2-send-link-qr")

    qr = tab.sgraph("qr")
    # the CLI's level and version for the same link (segno and uqr place the same bits
    # differently: both decode, see transfer_core/qr.py)
    cli = qr_symbol(link)
    assert (qr["ecc"], qr["version"]) == (cli.error, cli.version) == ("M", 5), (qr, cli)
    assert len(qr["rows"]) == len(qr_matrix(link)) == 17 + 4 * qr["version"]
    # what the canvas shows decodes, with a real decoder, to the whole link
    canvas = tmp_path / "qr-canvas.png"
    tab.page.locator("#qr").screenshot(path=str(canvas))
    assert decode_png(canvas) == [link]
    assert decode_png(shot) == [link]  # the whole phone screen too, as a camera sees it
    assert SCREENSHOTS.joinpath("phone-2-send-link-qr.png").exists()
