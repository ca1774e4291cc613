"""One root exception and a documented subclass per failure a person can act on."""

from __future__ import annotations


class SGraphSendError(Exception):
    """Root of every error this library raises on purpose."""


# --- the link and its secret -------------------------------------------------


class LinkError(SGraphSendError):
    """The share link or code cannot be used."""


class MissingFragmentError(LinkError):
    """A link was given without the `#<code>` part that carries the secret."""


class SecretAlphabetError(LinkError):
    """The code contains characters outside base64url."""


class SecretLengthError(LinkError):
    """The code does not decode to exactly 32 bytes."""


# --- records -------------------------------------------------------------------


class RecordError(SGraphSendError):
    """A record failed verification; nothing of it was written."""


class MalformedRecordError(RecordError):
    """The bytes are not a record of a version this library speaks."""


class TamperedRecordError(RecordError):
    """Authentication failed: a byte of the header or ciphertext was altered."""


class ForeignRecordError(RecordError):
    """The record belongs to another transfer."""


class MisplacedRecordError(RecordError):
    """The record is authentic but stands where another index was expected."""


class DuplicateRecordError(RecordError):
    """The record was already received and written."""


class WrongKeyError(RecordError):
    """The manifest was sealed under another key: the link is not this transfer's."""


class RecordSizeError(SGraphSendError):
    """A record size outside what the protocol allows."""


# --- transfer-level ----------------------------------------------------------------


class ManifestError(SGraphSendError):
    """The manifest decrypted but does not describe a valid transfer."""


class TruncatedTransferError(SGraphSendError):
    """Records are missing (the last one among them, perhaps): the file is incomplete."""


class HashMismatchError(SGraphSendError):
    """Every record verified but the assembled file's SHA-256 differs from the manifest."""


class SourceChangedError(SGraphSendError):
    """The file being sent changed on disk after its manifest was made."""


class DestinationExistsError(SGraphSendError):
    """The output file exists and overwriting was not asked for."""


class ProgressError(SGraphSendError):
    """A saved progress record is unreadable or belongs to another transfer."""


# --- spoken codes (the PAKE) ------------------------------------------------------


class SpokenCodeError(LinkError):
    """A spoken code (`7-guitarist-revenge`) is malformed: no number, or a word not in the list."""


class WrongCodeError(SGraphSendError):
    """The PAKE's key confirmation failed: the two sides typed different codes (or a
    relay substituted its own PAKE message, making its one guess)."""


class CryptoBackendError(SGraphSendError):
    """libsodium (ristretto255) is not available on this machine."""


# --- many files (revision 2.1, #15) -------------------------------------------------


class UnsafePathError(ManifestError):
    """An entry's path could write outside the output folder, or clash with another entry
    (or with a file system's rules): the whole transfer is refused before anything is
    written. `reason` names the rule (docs/protocol.md, revision 2.1)."""

    def __init__(self, reason: str, path: str, message: str) -> None:
        super().__init__(f"unsafe path {path!r}: {message}")
        self.reason = reason
        self.path = path
