import pytest

from transfer_core.errors import MissingFragmentError, SecretAlphabetError, SecretLengthError
from transfer_core.protocol.keys import derive_keys, record_key
from transfer_core.protocol.secret import CODE_LENGTH, TransferSecret


def test_code_and_link_round_trip():
    secret = TransferSecret.generate()
    assert len(secret.code) == CODE_LENGTH
    assert TransferSecret.parse(secret.code) == secret
    link = secret.link("https://send.example/")
    assert link == f"https://send.example/#{secret.code}"
    assert TransferSecret.parse(link) == secret
    assert TransferSecret.parse(f"  {link}\n") == secret


def test_link_replaces_an_existing_fragment():
    secret = TransferSecret(bytes(32))
    assert secret.link("http://h/#old") == f"http://h/#{secret.code}"


def test_randomness_is_injectable():
    secret = TransferSecret.generate(lambda n: b"\x07" * n)
    assert secret.raw == b"\x07" * 32


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("https://send.example/receive", MissingFragmentError),
        ("https://send.example/?code=abc", MissingFragmentError),
        ("A" * 42, SecretLengthError),
        ("A" * 44, SecretLengthError),
        ("https://h/#" + "A" * 10, SecretLengthError),
        ("A" * 42 + "=", SecretAlphabetError),
        ("A" * 41 + "+/", SecretAlphabetError),
        ("A" * 42 + "B", SecretAlphabetError),  # non-canonical: unused bits set
        ("", SecretLengthError),
    ],
)
def test_parse_errors_say_what_is_wrong(text, error):
    with pytest.raises(error):
        TransferSecret.parse(text)


def test_raw_secret_must_be_32_bytes():
    with pytest.raises(SecretLengthError):
        TransferSecret(b"short")


def test_keys_are_distinct_and_deterministic():
    secret = TransferSecret(bytes(range(32)))
    keys = derive_keys(secret)
    again = derive_keys(secret)
    assert keys == again
    assert len(keys.room_id) == 32 and int(keys.room_id, 16) >= 0
    values = {keys.room_id, keys.file_key.hex(), keys.signal_key.hex()}
    assert len(values) == 3
    # the room id is not a piece of either key
    assert keys.room_id not in keys.file_key.hex() + keys.signal_key.hex()
    other = derive_keys(TransferSecret(bytes(range(1, 33))))
    assert other.room_id != keys.room_id and other.file_key != keys.file_key


def test_keys_never_show_in_repr():
    keys = derive_keys(TransferSecret(bytes(32)))
    assert keys.file_key.hex() not in repr(keys)
    assert keys.signal_key.hex() not in repr(keys)


def test_record_key_differs_per_transfer():
    keys = derive_keys(TransferSecret(bytes(32)))
    assert record_key(keys.file_key, b"\x00" * 16) != record_key(keys.file_key, b"\x01" * 16)
