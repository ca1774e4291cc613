import subprocess
import sys

from transfer_core import api


def test_public_names_are_pinned():
    assert sorted(api.__all__) == [
        "ChunkLayout", "FileSource", "Manifest", "PartialFile", "ProgressRecord", "RangeSet",
        "RecordCipher", "RecordHeader", "SGraphSendError", "TransferKeys", "TransferSecret",
        "Via", "derive_keys", "open_manifest", "seal_manifest",
    ]
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_the_package_itself_imports_nothing_heavy():
    """The Lambda bundle carries `transfer_core/__init__.py`: it must import nothing."""
    code = (
        "import sys, transfer_core; "
        "print(*(m in sys.modules for m in ('cryptography', 'aiortc', 'lambdas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_the_api_does_not_pull_in_webrtc():
    code = "import sys, transfer_core.api; print('aiortc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
