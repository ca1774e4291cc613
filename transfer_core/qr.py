"""The link as a QR code in the terminal (``sgraph-send send --qr``), for a phone to scan.

The QR code carries the whole link, fragment included: the fragment never reaches a
server, and showing it on the sender's own screen exposes it exactly as the printed
link text does. The page draws a symbol of the same text, error-correction level and
version (``web/js/qr.js``, uqr); segno lays out some modules differently from uqr
(and from python-qrcode, which agrees with uqr); both decode to the link, and the
tests decode both.
"""

from __future__ import annotations

import io

import segno

__all__ = ["QR_ERROR", "qr_matrix", "qr_symbol", "qr_terminal"]

#: Error-correction level M (15 %): a link of ~100 characters stays a small version-5/6
#: symbol that a phone reads off a screen, glare and all. The page uses the same level.
QR_ERROR = "m"


def qr_symbol(text: str) -> segno.QRCode:
    """segno's symbol for `text` (its ``version`` and ``error`` are the page's too)."""
    # no boost: the page's encoder (uqr) does not boost either, so both pick the same
    # level and version for the same text
    return segno.make_qr(text, error=QR_ERROR, boost_error=False)


def qr_matrix(text: str) -> list[list[bool]]:
    """The symbol's modules, row by row, without quiet zone (True is dark)."""
    return [[bool(m) for m in row] for row in qr_symbol(text).matrix]


def qr_terminal(text: str) -> str:
    """Unicode half blocks, two module rows per line, with the 4-module quiet zone.

    Light modules are drawn as blocks (the terminal's text colour) and dark ones as
    spaces, for the usual light-on-dark terminal.
    """
    out = io.StringIO()
    qr_symbol(text).terminal(out=out, compact=True)
    return out.getvalue()
