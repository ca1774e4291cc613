"""Reading QR codes back in tests: a real decoder (zxing-cpp) on real pixels, and a
reference encoder (python-qrcode) for the page's module matrix."""

from __future__ import annotations

from pathlib import Path

import qrcode
import zxingcpp
from PIL import Image

#: transfer_core.qr.qr_terminal's half blocks: (top, bottom) modules, True = dark
HALF_BLOCKS = {" ": (True, True), "\u2580": (False, True), "\u2584": (True, False),
               "\u2588": (False, False)}


def decode_image(image: Image.Image) -> list[str]:
    """Every QR code zxing-cpp finds in the image, as text."""
    return [r.text for r in zxingcpp.read_barcodes(image)
            if r.format == zxingcpp.BarcodeFormat.QRCode]


def decode_png(path: Path) -> list[str]:
    with Image.open(path) as image:
        return decode_image(image.convert("L"))


def terminal_matrix(lines: list[str]) -> list[list[bool]]:
    """The modules (quiet zone included) of a QR code printed in half blocks."""
    rows: list[list[bool]] = []
    for line in lines:
        pairs = [HALF_BLOCKS[c] for c in line]
        rows.append([top for top, _ in pairs])
        rows.append([bottom for _, bottom in pairs])
    width = len(rows[0])
    return rows[:width]  # an odd height fills its last half line with light modules


def matrix_image(rows: list[list[bool]], scale: int = 8) -> Image.Image:
    """Pixels of a module matrix (dark = black), as a phone camera would see them."""
    image = Image.new("L", (len(rows[0]) * scale, len(rows) * scale), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, (x * scale, y * scale, (x + 1) * scale, (y + 1) * scale))
    return image


def strip_quiet_zone(rows: list[list[bool]], quiet: int = 4) -> list[list[bool]]:
    assert all(not any(r) for r in rows[:quiet] + rows[-quiet:]), "quiet zone not light"
    assert all(not any(r[:quiet] + r[-quiet:]) for r in rows), "quiet zone not light"
    return [r[quiet:-quiet] for r in rows[quiet:-quiet]]


def reference_matrix(text: str, mask: int) -> list[list[bool]]:
    """python-qrcode's symbol for `text` at level M with the given mask, no quiet zone.

    The mask is the page's: encoders may score the eight masks differently (the page
    and python-qrcode do for some texts), but data, error correction and placement
    are fixed by the standard. (segno, the CLI's encoder, lays out different bits for
    the same text, level and mask, all of them decoding; so it is not the reference.)
    """
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0,
                           mask_pattern=mask)
    symbol.add_data(text, optimize=0)
    symbol.make(fit=True)
    return [[bool(m) for m in row] for row in symbol.get_matrix()]
