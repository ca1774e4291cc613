"""The cap on open connections per client address (docs/signalling.md §3), over the
in-memory repository: what it refuses, what lets a client back in, and what it costs."""

from __future__ import annotations

import dataclasses

import pytest

from lambdas.signalling.errors import RateLimited, TooManyConnections
from lambdas.signalling.live import LiveConnections
from lambdas.signalling.memory import InMemoryRepository, RecordingGateway
from lambdas.signalling.service import LocalCounters, SignallingService
from lambdas.signalling.settings import MAX_CONNECTION_SECONDS, Settings
from transfer_core.protocol.room import offer

from .relay_world import Clock

OFFICE = "203.0.113.50"
ELSEWHERE = "198.51.100.7"


def cred(n: int) -> str:
    """The Sec-WebSocket-Protocol header of room number `n` (one sender slot each)."""
    return ", ".join(offer(n.to_bytes(32, "big")))


class Instance:
    """One Lambda instance: its own counters and view, the shared store and gateway."""

    def __init__(self, repo: InMemoryRepository, settings: Settings, clock: Clock) -> None:
        self.service = SignallingService(
            repo, settings, RecordingGateway(), clock=clock, random_bytes=lambda n: b"s" * n,
            counters=LocalCounters(), live=LiveConnections(),
        )

    def open(self, cid: str, ip: str = OFFICE, room: int | None = None) -> None:
        self.service.connect(cid, cred(room if room is not None else hash(cid) % 10**9),
                             "sender", None, ip)


@pytest.fixture
def world():
    repo = InMemoryRepository()
    clock = Clock()
    base = Settings(table_name="t", connect_rate_per_minute=10_000)

    def instance(**overrides) -> Instance:
        return Instance(repo, dataclasses.replace(base, **overrides), clock)

    return repo, clock, instance


def test_the_cap_refuses_the_next_and_a_close_lets_one_in(world):
    repo, _, instance = world
    lam = instance(max_connections_per_address=3)
    for n in range(3):
        lam.open(f"C{n}")
    with pytest.raises(TooManyConnections) as refused:
        lam.open("C3")
    # the same wire refusal as the connect rate limit: 429 rate-limited
    assert isinstance(refused.value, RateLimited)
    assert (refused.value.code, refused.value.http_status) == ("rate-limited", 429)
    assert "3 connections" in refused.value.message
    assert "C3" not in repo.connections  # refused before it took a slot
    lam.open("X0", ip=ELSEWHERE)  # another address is not affected
    lam.service.disconnect("C1")
    lam.open("C4")
    with pytest.raises(TooManyConnections):
        lam.open("C5")


def test_a_closed_connection_seen_by_another_instance_lets_one_in(world):
    _, _, instance = world
    first, second = instance(max_connections_per_address=2), instance(max_connections_per_address=2)
    first.open("A")
    second.open("B")
    with pytest.raises(TooManyConnections):
        first.open("C")
    second.service.disconnect("A")  # $disconnect ran on another instance: it writes no count
    first.open("D")


def test_a_connection_that_vanished_stops_counting_when_its_item_expires(world):
    _, clock, instance = world
    lam = instance(max_connections_per_address=2)
    lam.open("A")
    lam.open("B")  # neither ever gets $disconnect (the instance that would run it crashed)
    with pytest.raises(TooManyConnections):
        lam.open("C")
    clock.now += MAX_CONNECTION_SECONDS + 1  # API Gateway closed them by now
    lam.open("D")
    lam.open("E")


def test_admissions_lost_with_an_instance_never_lock_the_address_out(world):
    repo, _, instance = world
    crashed = instance(max_connections_per_address=20)
    for n in range(5):  # under a batch: still waiting in the instance's memory
        crashed.open(f"L{n}")
    fresh = instance(max_connections_per_address=20)
    for n in range(20):
        fresh.open(f"F{n}")
    with pytest.raises(TooManyConnections):
        fresh.open("F20")
    assert not set(repo.client_connections.get(next(iter(repo.client_connections)), {})) & {
        f"L{n}" for n in range(5)}


def test_the_common_path_costs_no_store_round_trip(world):
    """Under the cap and under a batch, a connect makes only its slot write."""
    repo, _, instance = world
    lam = instance(connect_rate_per_minute=60, max_connections_per_address=20)  # batch 7
    for n in range(6):
        before = repo.calls
        lam.open(f"C{n}")
        assert repo.calls - before == 1  # claim_slot only
    before = repo.calls
    lam.open("C6")  # the seventh: one write of the record carries the attempts and the ids
    assert repo.calls - before == 2
    record = next(iter(repo.client_connections.values()))
    assert set(record) == {f"C{n}" for n in range(7)}
    assert next(iter(repo.connect_counts.values())) == 7


def test_across_instances_the_overshoot_stays_under_a_batch_per_instance(world):
    _, _, instance = world
    cap = 20
    batch = max(1, min(16, 60 // 8, cap // 2))
    lams = [instance(connect_rate_per_minute=60, max_connections_per_address=cap)
            for _ in range(3)]
    admitted = 0
    for n in range(45):  # under the connect rate (60 a minute)
        try:
            lams[n % 3].open(f"C{n}")
            admitted += 1
        except TooManyConnections:
            pass
    assert cap <= admitted <= cap + len(lams) * (batch - 1)


def test_the_view_forgets_closed_connections_at_the_next_write(world):
    repo, _, instance = world
    lam = instance(max_connections_per_address=2)
    lam.open("A")
    lam.open("B")
    lam.service.disconnect("A")
    lam.service.disconnect("B")
    lam.open("C")  # at the cap by the view: the read finds A and B closed
    lam.open("D")
    record = next(iter(repo.client_connections.values()))
    assert "A" not in record and "B" not in record
