"""Find a deployment's signalling server from its page: `<page>/config.json`.

A deployment serves its page and, beside it, `config.json` naming its WebSocket
URL (`{"server": "wss://…", "page": "https://…/"}`; written by `make deploy`,
served by the local stack). So a link (`<page>#<code>`) is all a receiver needs,
and a sender can be pointed at the page's address alone.

Only the page's address is requested: the fragment, which carries the secret, is
cut off before anything is sent. HTTPS only, plain HTTP only for loopback; no
redirects (a redirect could lead to plain HTTP or another site); a short timeout;
a small body.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from .errors import LinkError, SGraphSendError

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIG_FILE", "Deployment", "PageConfigError", "PageUnreachableError", "discover",
    "is_loopback", "is_page_url",
]

CONFIG_FILE = "config.json"
TIMEOUT_SECONDS = 5.0
MAX_CONFIG_BYTES = 64 * 1024
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class PageConfigError(LinkError):
    """The page's address serves no valid `config.json` (not a SGraph Send deployment?)."""


class PageUnreachableError(SGraphSendError):
    """The page's server could not be reached (network, DNS, timeout)."""


@dataclass(frozen=True)
class Deployment:
    """What a page's `config.json` says about its deployment."""

    server: str
    """The signalling WebSocket URL (`wss://…`; `ws://` only on loopback)."""
    page: str
    """The page's address; share links are this plus `#<code>`."""


def is_loopback(url: str) -> bool:
    """Whether a URL's host is this machine."""
    return (urlsplit(url).hostname or "") in _LOOPBACK


def is_page_url(text: str) -> bool:
    """Whether a server setting names a page (http/https) rather than a WebSocket URL."""
    return urlsplit(text.strip()).scheme.lower() in {"http", "https"}


def _page_of(url: str) -> str:
    """The page address of a link or page URL: the fragment cut off, never sent."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        raise PageConfigError(f"not a web address: {url.split('#', 1)[0]!r}")
    if scheme == "http" and parts.hostname not in _LOOPBACK:
        raise PageConfigError(
            f"{parts.hostname} is reached over plain HTTP; only https:// pages are trusted "
            "(http:// only on this machine)"
        )
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise PageConfigError(f"{req.full_url} redirects (HTTP {code}); give the page's own"
                              " address")


_OPENER = urllib.request.build_opener(_NoRedirect)


def config_url(page: str) -> str:
    """Where a page's config lives: beside it, as the page itself fetches it."""
    return urljoin(_page_of(page), CONFIG_FILE)


def parse_config(body: bytes, page: str) -> Deployment:
    """Validate a `config.json` body fetched from ``page``."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PageConfigError(f"{config_url(page)} is not JSON: not a SGraph Send page?") from None
    server = doc.get("server") if isinstance(doc, dict) else None
    if not isinstance(server, str) or urlsplit(server).scheme not in {"wss", "ws"}:
        raise PageConfigError(f"{config_url(page)} names no wss:// signalling server")
    if urlsplit(server).scheme == "ws" and not is_loopback(server):
        raise PageConfigError(f"{config_url(page)} names a plain ws:// server off this machine")
    canonical = doc.get("page")
    if isinstance(canonical, str) and is_page_url(canonical):
        canonical = _page_of(canonical)
    else:
        canonical = _page_of(page)
    return Deployment(server=server, page=canonical)


def discover(page: str, timeout: float = TIMEOUT_SECONDS) -> Deployment:
    """Fetch and validate ``<page>/config.json`` (``page`` may be a whole link)."""
    url = config_url(page)
    logger.info("reading %s", url)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(MAX_CONFIG_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PageConfigError(f"{url} answered HTTP {exc.code}: not a SGraph Send page?"
                              ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PageUnreachableError(f"cannot reach {url}: {reason}") from None
    if len(body) > MAX_CONFIG_BYTES:
        raise PageConfigError(f"{url} is larger than a page config can be")
    return parse_config(body, page)
