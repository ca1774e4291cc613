"""Nameplates: allocation of short numbers, one-shot claims, expiry, per-client limits."""

from __future__ import annotations

import random

import pytest

from lambdas.signalling.errors import BadRequest, RateLimited
from lambdas.signalling.nameplates import (
    MemoryNameplates,
    Nameplates,
    NameplateSettings,
    UnknownNameplate,
)

from .relay_world import Clock

ROOM = "0123456789abcdef0123456789abcdef"


def make(rate: int = 100, ttl: int = 600):
    clock = Clock()
    store = MemoryNameplates()
    plates = Nameplates(store, NameplateSettings(ttl, rate), clock=clock, rng=random.Random(1))
    return plates, store, clock


def test_numbers_stay_short_and_each_is_claimed_once():
    plates, store, _ = make()
    numbers = [plates.allocate(f"{i:032x}", "client")[0] for i in range(9)]
    assert all(1 <= n <= 99 for n in numbers) and len(set(numbers)) == 9
    assert plates.claim(str(numbers[3]), "other") == f"{3:032x}"
    with pytest.raises(UnknownNameplate):
        plates.claim(str(numbers[3]), "other")  # used up: one attempt per nameplate
    assert numbers[3] not in store.plates


def test_nameplate_expires_and_its_number_is_reused():
    plates, store, clock = make(ttl=60)
    number, expires_at = plates.allocate(ROOM, "c")
    assert expires_at == int(clock.now) + 60
    clock.now += 61
    with pytest.raises(UnknownNameplate):
        plates.claim(str(number), "c")
    assert store.reserve(number, "f" * 32, int(clock.now) + 60, int(clock.now))


@pytest.mark.parametrize("text", [None, "", "0", "07", "abc", "1234567", "-1"])
def test_malformed_numbers_are_bad_requests(text):
    plates, _, _ = make()
    with pytest.raises(BadRequest):
        plates.claim(text, "c")


def test_allocations_and_claims_are_rate_limited_per_client():
    plates, _, clock = make(rate=3)
    number, _ = plates.allocate(ROOM, "greedy")
    for _ in range(2):
        with pytest.raises(UnknownNameplate):
            plates.claim("999999", "greedy")
    with pytest.raises(RateLimited):
        plates.claim(str(number), "greedy")
    assert plates.claim(str(number), "someone-else") == ROOM  # others are not affected
    clock.now += 60
    plates.allocate(ROOM, "greedy")  # a new minute
