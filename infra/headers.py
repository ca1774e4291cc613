"""The web page's security headers, computed from the stack's settings in one place.

Pure Python (no ``aws_cdk`` import): the CDK stack turns these values into a
CloudFront response headers policy, and the local stack's web server
(``devstack/web.py``) sends exactly the same headers, so every browser test
runs the page under the production Content-Security-Policy and fails on a page
change that production would block.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["HSTS_MAX_AGE_SECONDS", "PERMISSIONS_POLICY", "SecurityHeaders", "origin_of",
           "security_headers"]

#: Two years, the value HSTS preload lists ask for (the page is never served over HTTP).
HSTS_MAX_AGE_SECONDS = 63_072_000

#: Powerful browser features the page never uses, switched off for it and anything it
#: embeds. Kept to these three: with a longer list (autoplay, usb, midi, sensors...)
#: Chromium 156 was seen failing the page's data channel to the CLI in one browser
#: test (tests/browser/test_web_storage_send.py, the stored-rest case); not understood yet.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()" for feature in ("camera", "geolocation", "microphone")
)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL; a CSP source without path matches any path on it.

    Works on CDK token strings too (``wss://${Token[...]}.execute-api...``): only the
    text before the first ``/`` after ``//`` is kept.
    """
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or not scheme or not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{scheme.lower()}://{host}"


@dataclass(frozen=True)
class SecurityHeaders:
    """Every security header of the page, by meaning (CloudFront wants them structured)."""

    content_security_policy: str
    """The whole CSP header value."""
    referrer_policy: str
    """Nothing about the page (and never the fragment) leaks to another site."""
    hsts_max_age_seconds: int
    """Strict-Transport-Security max-age (with includeSubDomains)."""
    content_type_options: str
    """``nosniff``: a JSON or text response is never run as script."""
    frame_options: str
    """``DENY``: legacy twin of ``frame-ancestors 'none'``."""
    permissions_policy: str
    """Features switched off."""

    @property
    def strict_transport_security(self) -> str:
        """The HSTS header value."""
        return f"max-age={self.hsts_max_age_seconds}; includeSubDomains"

    def as_http(self) -> dict[str, str]:
        """Header name -> value, as a plain web server sends them."""
        return {
            "Content-Security-Policy": self.content_security_policy,
            "Referrer-Policy": self.referrer_policy,
            "Strict-Transport-Security": self.strict_transport_security,
            "X-Content-Type-Options": self.content_type_options,
            "X-Frame-Options": self.frame_options,
            "Permissions-Policy": self.permissions_policy,
        }


def content_security_policy(connect_sources: Iterable[str]) -> str:
    """A CSP allowing the page's own files and connections to ``connect_sources`` only.

    No inline script or style, no eval, no plugins; the page cannot be framed, cannot
    change its base URL and cannot submit forms. ``img-src data:`` is for the empty
    ``data:,`` favicon (which stops the browser asking the server for one).
    ``'wasm-unsafe-eval'`` lets the page compile WebAssembly (the vendored hash-wasm
    SHA-256, 4-5 times the JavaScript one) and nothing else: no JavaScript `eval`, and
    only modules from the page's own files.
    """
    connect = " ".join(dict.fromkeys(["'self'", *connect_sources]))
    directives = [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src {connect}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def security_headers(signalling_url: str, storage_origins: Iterable[str]) -> SecurityHeaders:
    """The page's headers for a deployment: its WebSocket API and its transfer bucket.

    ``signalling_url`` is the relay's ``wss://`` URL (the local stack: ``ws://127.0.0.1:…``);
    ``storage_origins`` are the origins presigned S3 URLs point at (the bucket's
    virtual-hosted names on AWS, the moto server locally).
    """
    connect = [origin_of(signalling_url), *(origin_of(o) for o in storage_origins)]
    return SecurityHeaders(
        content_security_policy=content_security_policy(connect),
        referrer_policy="no-referrer",
        hsts_max_age_seconds=HSTS_MAX_AGE_SECONDS,
        content_type_options="nosniff",
        frame_options="DENY",
        permissions_policy=PERMISSIONS_POLICY,
    )
