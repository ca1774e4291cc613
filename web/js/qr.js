// The share link as a QR code, for a phone to scan (drawn on a <canvas>: the page's CSP
// allows no inline style or markup strings, and a canvas needs neither).
//
// The code carries the whole link, fragment included: the fragment never reaches a
// server, and showing it on the sender's own screen exposes it exactly as the link text
// beside it does. Same text, error-correction level, (no) boosting and so version as
// the CLI's `send --qr` (transfer_core/qr.py, segno); the browser tests decode both, and
// compare these modules with python-qrcode's for the same text, level and mask.

import { encode } from "../vendor/uqr/index.js";

export const QR_ECC = "M";
const QUIET = 4; // modules of light margin on each side (the standard's quiet zone)
const PIXELS = 232; // the drawn size in CSS pixels, about; modules stay whole pixels

/** The symbol for `text`: { version, mask, size, rows } (rows of booleans, dark = true, no margin). */
export function qrSymbol(text) {
  const qr = encode(text, { ecc: QR_ECC, boostEcc: false, border: 0 });
  return { version: qr.version, mask: qr.maskPattern, size: qr.size, rows: qr.data };
}

/** Draw `text` on `canvas` (dark on white, quiet zone included); returns the symbol. */
export function drawQr(canvas, text) {
  const symbol = qrSymbol(text);
  const cells = symbol.size + 2 * QUIET;
  const scale = Math.max(2, Math.floor((PIXELS * (window.devicePixelRatio || 1)) / cells));
  canvas.width = canvas.height = cells * scale;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#000";
  symbol.rows.forEach((row, y) => row.forEach((dark, x) => {
    if (dark) g.fillRect((x + QUIET) * scale, (y + QUIET) * scale, scale, scale);
  }));
  return symbol;
}
