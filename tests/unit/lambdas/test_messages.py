"""The relay's message parser: each field shape, its bounds, and which problem is named first.

The relay's fuzz test (test_signalling_fuzz.py) shows no body escapes as an unhandled
exception; these pin what each body becomes.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from lambdas.signalling.errors import (
    BadJson,
    InvalidField,
    MissingField,
    SignallingError,
    UnexpectedField,
    UnknownAction,
)
from lambdas.signalling.messages import (
    ACTIONS,
    Hello,
    Signal,
    TransferLimits,
    UploadParts,
    UploadStart,
    parse_message,
)


def parse(**fields: object):
    return parse_message(json.dumps(fields))


def refusal(**fields: object) -> SignallingError:
    with pytest.raises(SignallingError) as info:
        parse(**fields)
    return info.value


def test_each_action_becomes_its_class_with_the_fields_it_took() -> None:
    assert parse(action="hello") == Hello()
    assert parse(action="signal", payload={"sdp": "v=0"}, to="B", ref="r1") == Signal(
        payload={"sdp": "v=0"}, to="B", ref="r1"
    )
    start = parse(action="upload-start", object="records", first=0, parts=3,
                  size=3 * 2**20, partSize=2**20)
    assert start == UploadStart(object="records", first=0, parts=3, size=3 * 2**20,
                                partSize=2**20)
    assert parse(action="upload-parts", first=0, uploadId="u", parts=[2, 1]) == UploadParts(
        first=0, uploadId="u", parts=(2, 1)
    )
    assert all(type(parse(action=name, **_minimal(name))).action == name for name in ACTIONS)


def _minimal(action: str) -> dict[str, object]:
    minimal: dict[str, dict[str, object]] = {
        "signal": {"payload": None},
        "upload-start": {"object": "manifest", "size": 1},
        "upload-parts": {"first": 0, "uploadId": "u", "parts": [1]},
        "upload-complete": {"first": 0, "uploadId": "u", "parts": 1},
    }
    return minimal.get(action, {})


def test_a_message_is_a_frozen_value() -> None:
    message = parse(action="signal", payload=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.to = "B"


def test_an_optional_field_may_be_absent_or_null_and_is_then_none() -> None:
    assert parse(action="signal", payload=1, to=None) == Signal(payload=1)
    assert parse(action="transfer-limits", downloads=None, expiresIn=60) == TransferLimits(
        expiresIn=60
    )
    assert parse(action="ping", ref=None).ref is None


def test_a_required_field_must_be_present_and_only_any_json_takes_null() -> None:
    # the payload is any JSON value, null included, but it must be there
    assert parse(action="signal", payload=None) == Signal(payload=None)
    missing = refusal(action="signal")
    assert isinstance(missing, MissingField) and str(missing) == "signal needs the field payload."
    null_size = refusal(action="upload-start", object="manifest", size=None)
    assert isinstance(null_size, InvalidField)
    assert str(null_size).startswith("The field size is invalid")


@pytest.mark.parametrize("to", ["", "x" * 129, 5, ["B"], True])
def test_text_has_a_type_and_a_length(to: object) -> None:
    error = refusal(action="signal", payload=1, to=to)
    assert isinstance(error, InvalidField)
    assert str(error) == "The field to is invalid: it must be a string of 1 to 128 characters."


def test_text_bounds_count_characters_and_are_inclusive() -> None:
    assert parse(action="signal", payload=1, to="é" * 128).to == "é" * 128
    assert parse(action="ping", ref="x").ref == "x"


@pytest.mark.parametrize("first", [-1, 2**32, True, 1.0, "1", None])
def test_a_record_index_is_a_strict_whole_number_in_range(first: object) -> None:
    # JSON's true, 1.0 and "1" are not numbers here, whatever Python makes of them
    error = refusal(action="upload-complete", first=first, uploadId="u", parts=1)
    assert isinstance(error, InvalidField)
    assert str(error) == (
        "The field first is invalid: it must be a whole number from 0 to 4294967295."
    )


@pytest.mark.parametrize("value", [0, 2**32 - 1])
def test_whole_number_bounds_are_inclusive(value: int) -> None:
    assert parse(action="upload-complete", first=value, uploadId="u", parts=1).first == value


def test_one_of_takes_only_its_strings() -> None:
    for wrong in ("Manifest", "", 1, None, ["manifest"]):
        error = refusal(action="upload-start", object=wrong, size=1)
        assert isinstance(error, InvalidField)
        assert str(error) == "The field object is invalid: it must be one of manifest, records."


def test_a_list_has_bounds_and_names_the_item_it_refuses() -> None:
    for wrong in ([], list(range(1, 18)), 3, "1,2"):
        error = refusal(action="upload-parts", first=0, uploadId="u", parts=wrong)
        assert str(error) == "The field parts is invalid: it must be a list of 1 to 16 items."
    item = refusal(action="upload-parts", first=0, uploadId="u", parts=[1, 2, 10_001])
    assert isinstance(item, InvalidField)
    assert str(item) == "The field parts.2 is invalid: it must be a whole number from 1 to 10000."
    assert parse(action="upload-parts", first=0, uploadId="u", parts=list(range(1, 17))).parts \
        == tuple(range(1, 17))


def test_fields_are_checked_in_order_and_strangers_last() -> None:
    # ref is every message's first field, so its problem is named before any other
    assert str(refusal(action="upload-complete", ref="", first=-1)).startswith(
        "The field ref is invalid"
    )
    assert isinstance(refusal(action="upload-complete", first=-1, extra=1), InvalidField)
    assert isinstance(refusal(action="upload-complete", first=0, extra=1), MissingField)
    stranger = refusal(action="upload-complete", first=0, uploadId="u", parts=1, extra=1)
    assert isinstance(stranger, UnexpectedField)
    assert str(stranger) == "upload-complete does not take the field extra."


def test_the_action_comes_first_and_is_named_from_the_list_the_relay_knows() -> None:
    assert isinstance(refusal(payload=1), MissingField)
    for action in ("dance", "", 7, None, ["ping"]):
        if action is None:
            assert str(refusal(action=None)) == "Every message needs an action field."
            continue
        unknown = refusal(action=action)
        assert isinstance(unknown, UnknownAction)
        assert str(unknown).endswith(", ".join(sorted(ACTIONS)) + ".")


def test_a_refusal_carries_the_ref_a_reply_can_echo() -> None:
    assert refusal(action="ping", ref="r-7", bogus=True).ref == "r-7"
    assert refusal(action="dance", ref="r-8").ref == "r-8"
    assert refusal(action="ping", ref="x" * 65).ref is None  # too long to echo
    assert refusal(action="ping", ref=5).ref is None


@pytest.mark.parametrize(
    "body",
    [None, "", "{not json", "[1]", '"ping"', '{"action":"ping","ref":NaN}',
     '{"action":"signal","payload":' + "[" * 33 + "]" * 33 + "}",
     '{"action":"ping","ref":"\\ud800"}'],
)
def test_what_is_not_a_json_object_is_bad_json(body: str | None) -> None:
    with pytest.raises(BadJson):
        parse_message(body)


def test_binary_frames_are_refused() -> None:
    with pytest.raises(BadJson, match="Binary frames"):
        parse_message('{"action":"ping"}', is_base64=True)

