"""The client side of a transfer the sender controls: durations, limits, closed-link errors."""

from __future__ import annotations

import asyncio

import pytest

from transfer_core.cli import EXIT_CLOSED, EXIT_USAGE, build_parser, exit_code_for
from transfer_core.s3.errors import TransferExpiredError
from transfer_core.s3.issuer import RelayUrlIssuer
from transfer_core.signalling.client import RelayError
from transfer_core.signalling.control import (
    DurationError,
    LimitsRefusedError,
    LinkClosedError,
    TransferLimits,
    apply_limits,
    parse_duration,
    report_download,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("2h", 7200), ("7d", 604800), (" 1D ", 86400), ("45M", 2700),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "1w", "1.5h", "-2h", "0m", "2 h", "1e3s",
                                  "12345678s", "٣m"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration(text)
    assert "30m, 2h or 7d" in str(refused.value) or "longer than zero" in str(refused.value)


def test_cli_options_become_limits_and_bad_ones_are_usage_errors(capsys) -> None:
    args = build_parser().parse_args(["send", "f", "--downloads", "2", "--expires", "30m"])
    assert (args.downloads, args.expires) == (2, 1800)
    assert TransferLimits(args.downloads, args.expires).request() == {
        "action": "transfer-limits", "downloads": 2, "expiresIn": 1800}
    assert TransferLimits(expires_in=60).request() == {"action": "transfer-limits",
                                                       "expiresIn": 60}
    for bad in (["--downloads", "0"], ["--downloads", "x"], ["--expires", "3w"]):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(["send", "f", *bad])
        assert exited.value.code == 2
    assert "30m, 2h or 7d" in capsys.readouterr().err


def refusing(code: str, message: str = "no"):
    async def request(body: dict) -> dict:
        raise RelayError(code, message)
    return request


@pytest.mark.parametrize(("code", "reason"), [
    ("link-expired", "expired"), ("link-used-up", "used-up"), ("link-revoked", "revoked"),
])
def test_closed_codes_are_their_own_error_with_exit_code_5(code: str, reason: str) -> None:
    issuer = RelayUrlIssuer(refusing(code))
    with pytest.raises(LinkClosedError) as closed:
        asyncio.run(issuer.download())
    assert closed.value.reason == reason
    assert exit_code_for(closed.value) == EXIT_CLOSED == 5
    with pytest.raises(LinkClosedError):
        asyncio.run(apply_limits(refusing(code), TransferLimits(downloads=1)))


def test_nothing_stored_stays_a_different_error() -> None:
    with pytest.raises(TransferExpiredError) as nothing:
        asyncio.run(RelayUrlIssuer(refusing("expired")).download())
    assert exit_code_for(nothing.value) == EXIT_USAGE


def test_refused_limits_and_an_unreachable_relay_at_the_end() -> None:
    with pytest.raises(LimitsRefusedError) as refused:
        asyncio.run(apply_limits(refusing("invalid-field", "at most 7 days"),
                                 TransferLimits(expires_in=9 * 86400)))
    assert "at most 7 days" in str(refused.value) and exit_code_for(refused.value) == EXIT_USAGE
    # the file is saved and verified already: a relay that cannot be told is no failure
    assert asyncio.run(report_download(refusing("internal"))) is None

    async def told(body: dict) -> dict:
        assert body == {"action": "download-done"}
        return {"type": "download-done", "counted": True, "remaining": 2}
    assert asyncio.run(report_download(told)) == 2
