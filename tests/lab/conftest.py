"""Fixtures of the network lab: one lab of NAT'd LANs per module, its internet side.

Every lab is torn down in `finally`, and a session fixture removes any lab left
behind by a killed run (whose owning process is dead) before the first test and
checks that this run left none behind.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.browser import netns

from .certs import make_tls_files
from .netlab import INTERNET_ADDRESS, Lab, check_lab_support, namespaces, remove_stale_labs
from .parties import internet


@pytest.fixture(scope="session", autouse=True)
def lab_session():
    """Fail (never skip) where namespaces are impossible; clean up before and after."""
    # the lab is built from the machine's own namespace, even on a worker whose browser
    # tests moved into their loopback-only one (tests/browser/netns.py)
    netns.leave()
    remove_stale_labs()
    check_lab_support()
    yield
    mine = [ns for ns in namespaces() if ns.startswith(f"sgl{os.getpid()}-")]
    remove_stale_labs()
    for ns in mine:  # a lab whose fixture did not run its teardown
        from .netlab import _delete_namespace
        _delete_namespace(ns)
    assert not mine, f"labs left behind: {mine}"


@pytest.fixture(autouse=True)
def sender_state_dir(tmp_path, monkeypatch):
    """Senders keep their resume state per test (the CLI inherits the environment)."""
    monkeypatch.setenv("SGRAPH_SEND_STATE_DIR", str(tmp_path / "sender-state"))


ALLOCATION_LIFETIME = 15
"""Seconds a TURN allocation lives unless refreshed, on the lab's coturn."""


def build_lab(*lans: tuple[str, int]):
    """A generator fixture body: the lab, closed in `finally`."""
    lab = Lab.build(lans)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="session")
def lab(lab_session):
    """The shared lab: LAN 1 (two hosts) and LAN 2 behind endpoint-independent NAT,
    LANs 3 and 4 behind symmetric NAT, LANs 5 and 6 for firewall tests (EIM NAT; the
    tests set and reset their firewalls)."""
    yield from build_lab(("eim", 2), ("eim", 1), ("symmetric", 1), ("symmetric", 1),
                         ("eim", 1), ("eim", 1))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """(CA, certificate, key) for the lab's `turns:`; peers that use it trust the CA."""
    return make_tls_files(tmp_path_factory.mktemp("tls"), INTERNET_ADDRESS)


@pytest.fixture(scope="session")
def net(lab, tmp_path_factory, tls_files):
    """The shared lab's internet side, started once for every lab test: the stack, and
    coturn as STUN and TURN, offering TURN over UDP then over TLS as production does."""
    _, cert, key = tls_files
    # allocations live 15 s (production: up to an hour), so a test sees a client refresh
    # its allocation within seconds (test_recovery: after its credential expired)
    with internet(lab, tmp_path_factory.mktemp("inet"), "--turn", "udp,tls",
                  "--cert", str(cert), "--key", str(key), "--max-allocate-lifetime",
                  str(ALLOCATION_LIFETIME)) as running:
        yield running


CREDENTIAL_TTL = 8
"""Seconds the short-lived stack's TURN credentials are valid: shorter than the time to
the first allocation refresh, so every refresh presents an expired credential."""


@pytest.fixture(scope="session")
def short_lived(lab, net, tmp_path_factory):
    """A second stack beside the shared one (same coturn) handing out TURN credentials
    that expire after `CREDENTIAL_TTL` seconds; started once for the CLI's and the
    page's credential tests (test_recovery, test_browser_paths)."""
    workdir = tmp_path_factory.mktemp("short-lived")
    shared = workdir / "turn.json"
    shared.write_text(json.dumps({k: net.info[k] for k in (
        "stun_url", "turn_url", "turn_secret", "turn_port", "turn_log")}))
    with internet(lab, workdir, "--turn-from", str(shared), "--turn-ttl",
                  str(CREDENTIAL_TTL)) as running:
        yield running
