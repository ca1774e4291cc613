"""The page in chromium under the production headers (infra/headers.py), CSP included."""

from __future__ import annotations

import pytest

from infra.headers import security_headers

from .conftest import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]


def test_the_page_runs_under_the_production_headers(new_tab, stack: Stack) -> None:
    tab = new_tab()
    response = tab.page.goto(stack.info.web_url)
    assert response is not None and response.ok
    expected = security_headers(stack.info.ws_url, [stack.info.aws_endpoint_url]).as_http()
    sent = response.all_headers()
    for name, value in expected.items():
        assert sent[name.lower()] == value, name
    # the page works under it: the self-check ran and the relay URL came from config.json
    tab.page.wait_for_function("() => window.sgraph && window.sgraph.vectors")
    assert tab.sgraph("vectors.passed") == tab.sgraph("vectors.total") > 0
    assert tab.page.inner_text("#server") == stack.info.ws_url
    assert not tab.errors and not tab.csp_violations, (tab.errors, tab.csp_violations)


def test_the_csp_is_enforced(new_tab, stack: Stack) -> None:
    """Control: inline script and a connection to another origin are refused."""
    tab = new_tab()
    tab.csp_probe = True
    tab.page.goto(stack.info.web_url)
    tab.page.wait_for_function("() => window.sgraph && window.sgraph.vectors")
    blocked = tab.page.evaluate("""async () => {
        const s = document.createElement("script");
        s.textContent = "window.inlineRan = true";
        document.head.appendChild(s);
        let fetched = "allowed";
        try { await fetch("http://127.0.0.1:9/x"); } catch (e) { fetched = "refused"; }
        return { inline: window.inlineRan === true, fetched };
    }""")
    assert blocked == {"inline": False, "fetched": "refused"}
    tab.page.wait_for_timeout(200)
    assert any("Content Security Policy" in v for v in tab.csp_violations), tab.console
