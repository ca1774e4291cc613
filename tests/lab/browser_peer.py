"""Chromium as a peer inside a lab LAN (run with `ip netns exec`).

    python -m tests.lab.browser_peer send PAGE_URL FILE [--relay-only]
    python -m tests.lab.browser_peer receive LINK SAVE_AS

`send` opens the page (served by the stack on the lab's internet), picks FILE (after
ticking the page's "relay only" box with `--relay-only`) and prints
`{"event": "link", ...}`; `receive` opens the link and saves the download.
Both wait until the transfer ends and print `{"event": "summary", ...}` (the page's
state, its `window.sgraph.summary` and its error, if any).
The page's origin is plain http on a lab address, so Chromium is told to treat it
as secure (Web Crypto needs a secure context).
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS


def main() -> None:
    mode, url, path = sys.argv[1], sys.argv[2], sys.argv[3]
    relay_only = "--relay-only" in sys.argv[4:]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"],
        )
        try:
            page = browser.new_page(accept_downloads=True)
            if mode == "send":
                page.goto(url)
                page.wait_for_function("() => window.sgraph && window.sgraph.vectors")
                if relay_only:  # the visible control, as a person would (fails if hidden)
                    page.get_by_label("Relay only").check()
                page.set_input_files("#file", path)
                page.wait_for_function("() => window.sgraph.link", timeout=60_000)
                print(json.dumps({"event": "link",
                                  "link": page.evaluate("window.sgraph.link")}), flush=True)
            else:
                with page.expect_download(timeout=150_000) as download:
                    page.goto(url)
                download.value.save_as(path)
            page.wait_for_function(
                "() => ['done', 'failed', 'stored'].includes(document.body.dataset.state)",
                timeout=150_000,
            )
            state = page.evaluate("document.body.dataset.state")
            summary = page.evaluate("JSON.parse(JSON.stringify(window.sgraph.summary ?? null))")
            error = page.evaluate("String(window.sgraph.error ?? '')")
            print(json.dumps({"event": "summary", "state": state, "summary": summary,
                              "error": error}), flush=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
