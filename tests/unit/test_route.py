"""The path a transfer took, as the CLI reports it, and the relay-only switch."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from transfer_core.cli import _options, _print_summary, build_parser
from transfer_core.session.report import TransferSummary
from transfer_core.webrtc.ice import SelectedPath, selected_path


def test_selected_path_label_and_relayed():
    direct = SelectedPath("host", "srflx", ("192.168.1.10", 5000), ("198.51.100.12", 7000))
    assert direct.label == "host/srflx" and not direct.relayed
    relayed = SelectedPath("host", "relay", ("192.168.1.10", 5000), ("198.51.100.1", 41000))
    assert relayed.label == "host/relay" and relayed.relayed


async def test_no_path_before_a_connection():
    pc = RTCPeerConnection()
    try:
        assert selected_path(pc) is None
    finally:
        await pc.close()


def test_relay_only_switch_reaches_the_session_options():
    args = build_parser().parse_args(["send", "f.bin", "--relay-only"])
    assert _options(args, "ws://198.51.100.1:9000/local").relay_only is True
    args = build_parser().parse_args(["receive", "code"])
    assert _options(args, "ws://198.51.100.1:9000/local").relay_only is False


def summary(route: str | None, chunks: dict[str, int]) -> TransferSummary:
    return TransferSummary(role="receiver", name="a.pdf", size=1 << 20, seconds=1.0,
                           path="p2p" if chunks.get("p2p") else "s3", chunks=chunks,
                           sha256_verified=True, route=route)


def test_summary_names_the_route(capsys):
    args = build_parser().parse_args(["receive", "code"])
    _print_summary(args, summary("relay/prflx", {"p2p": 16, "s3": 0}))
    err = capsys.readouterr().err
    assert "peer to peer (through a TURN relay, relay/prflx)" in " ".join(err.split())
    _print_summary(args, summary("host/srflx", {"p2p": 16, "s3": 0}))
    assert "peer to peer (host/srflx)" in " ".join(capsys.readouterr().err.split())


def test_json_summary_carries_the_route(capsys):
    args = build_parser().parse_args(["receive", "code", "--json"])
    _print_summary(args, summary(None, {"p2p": 0, "s3": 16}))
    assert '"route": null' in capsys.readouterr().out


def test_a_senders_summary_says_its_packets_and_how_far_its_window_grew(capsys):
    args = build_parser().parse_args(["send", "a.pdf"])
    sent = TransferSummary(role="sender", name="a.pdf", size=1 << 26, seconds=4.0, path="p2p",
                           chunks={"p2p": 512}, sha256_verified=True, route="host/srflx",
                           packet_size=1400, window_bytes=5 * 2**20 + 2**19)
    _print_summary(args, sent)
    said = " ".join(capsys.readouterr().err.split())
    assert "(host/srflx, 1,400-byte packets, a 5.5 MiB window)" in said
    args = build_parser().parse_args(["send", "a.pdf", "--json"])
    _print_summary(args, sent)
    assert '"window_bytes": 5767168' in capsys.readouterr().out
