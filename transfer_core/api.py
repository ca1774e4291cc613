"""The client library's public surface, pinned by a test; everything else may change.

`transfer_core/__init__.py` stays empty of imports because the Lambda bundle
carries it (with only the Lambda-safe modules beside it).
"""


from .errors import SGraphSendError
from .protocol.keys import TransferKeys, derive_keys
from .protocol.layout import ChunkLayout
from .protocol.manifest import Manifest, open_manifest, seal_manifest
from .protocol.progress import ProgressRecord, Via
from .protocol.ranges import RangeSet
from .protocol.record import RecordCipher, RecordHeader
from .protocol.secret import TransferSecret
from .sink import PartialFile
from .source import FileSource

__all__ = [
    "ChunkLayout",
    "FileSource",
    "Manifest",
    "PartialFile",
    "ProgressRecord",
    "RangeSet",
    "RecordCipher",
    "RecordHeader",
    "SGraphSendError",
    "TransferKeys",
    "TransferSecret",
    "Via",
    "derive_keys",
    "open_manifest",
    "seal_manifest",
]
