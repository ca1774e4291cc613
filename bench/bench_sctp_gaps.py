"""What one loss costs aiortc's SCTP in Python, by how much it holds: receiver and sender.

After a loss, every packet until the retransmission lands beyond the gap, and each is
acknowledged at once with a SACK listing every TSN held (RFC 9260 §6.2). k held TSNs:

- **receiver**: each held packet through `_handle_data` and its SACK, on aiortc's own
  association and on one with `install_lean_receive` (the held TSNs as runs,
  `transfer_core/webrtc/sctp_gaps.py`). O(1) per packet means the same cost at every k.
- **sender**: each of those SACKs (one hole at the front, the gap block one TSN longer
  each time) through `_receive_sack_chunk` with k chunks outstanding, aiortc's own and
  with `install_lean_transmit` (the gap blocks by what they change, the retransmission
  walk over what a strike marked: `transfer_core/webrtc/sctp_transmit.py`).

CPU time of this thread, the median of `ROUNDS` rounds; each round runs every k over
the same number of packets, back to back, and the flatness figures are the median of
the rounds' own ratios (this shared host's pace comes and goes within seconds). The
DTLS transport under the association is a stand-in that keeps what it is given (no
encryption, no socket), so the figures are aiortc's Python and ours alone.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc.rtcsctptransport import (  # noqa: E402
    SCTP_DATA_FIRST_FRAG,
    SCTP_DATA_LAST_FRAG,
    USERDATA_MAX_LENGTH,
    DataChunk,
    RTCSctpTransport,
    SackChunk,
    serialize_packet,
)
from pyee.asyncio import AsyncIOEventEmitter  # noqa: E402

from bench._report import summary, write_section  # noqa: E402
from transfer_core.webrtc.sctp_pmtu import install_path_mtu  # noqa: E402
from transfer_core.webrtc.sctp_receive import install_lean_receive  # noqa: E402
from transfer_core.webrtc.sctp_transmit import install_lean_transmit  # noqa: E402

HELD = (100, 500, 2000)
ROUNDS = 9
PAYLOAD = 1_172
"""A DATA chunk's payload in a 1,200-byte packet (Chromium's size on loopback)."""
TAG = 0x5EED
FLAT = 1.5
"""The target for cost at the largest k over cost at the smallest: O(1) per packet."""


class KeptDtls(AsyncIOEventEmitter):
    """Stands in for `RTCDtlsTransport` under the association: keeps each packet (and
    takes the path-MTU adapter's state listener; no ICE under it)."""

    state = "connected"
    transport = None

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    async def _send_data(self, data: bytes) -> None:
        self.sent.append(data)


def association() -> RTCSctpTransport:
    sctp = RTCSctpTransport(KeptDtls())  # type: ignore[arg-type]
    sctp._remote_port = 5000
    sctp._local_verification_tag = sctp._remote_verification_tag = TAG
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
    return sctp


def packets(count: int, first_tsn: int) -> list[bytes]:
    """One message of `count` fragments, a packet each."""
    out = []
    for i in range(count):
        chunk = DataChunk(flags=(SCTP_DATA_FIRST_FRAG if i == 0 else 0)
                          | (SCTP_DATA_LAST_FRAG if i == count - 1 else 0))
        chunk.tsn, chunk.stream_id, chunk.stream_seq = (first_tsn + i) % 2**32, 1, 0
        chunk.protocol, chunk.user_data = 53, bytes(PAYLOAD)
        out.append(serialize_packet(5000, 5000, TAG, chunk))
    return out


async def receiver(held: int, lean: bool) -> float:
    """Seconds per held packet (its SACK included)."""
    sctp = association()
    sctp._last_received_tsn = 999
    delivered: list[bytes] = []

    async def deliver(stream_id: int, pp_id: int, data: bytes) -> None:
        delivered.append(data)

    sctp._data_channel_receive = deliver  # type: ignore[method-assign]
    if lean:
        assert install_lean_receive(sctp)
    lost, *flight = packets(held + 1, 1000)
    start = time.thread_time()
    for data in flight:
        await sctp._handle_data(data)
    took = time.thread_time() - start
    await sctp._handle_data(lost)
    assert len(delivered) == 1 and not sctp._sack_misordered
    return took / held


async def sender(outstanding: int, lean: bool) -> float:
    """Seconds per SACK that reports one more TSN beyond a hole at the front."""
    sctp = association()
    if lean:  # as `DataPipe` installs it: over the path-MTU adapter, whose globals it takes
        install_path_mtu(sctp, ())
        assert install_lean_transmit(sctp)
    sctp._cwnd = sctp._ssthresh = 1 << 40
    first = sctp._local_tsn
    await sctp._send(1, 53, bytes(USERDATA_MAX_LENGTH * (outstanding + 1)))
    while sctp._outbound_queue:
        await sctp._transmit()
    assert len(sctp._sent_queue) == outstanding + 1
    start = time.thread_time()
    for extra in range(1, outstanding + 1):
        sack = SackChunk()
        sack.cumulative_tsn, sack.advertised_rwnd = (first - 1) % 2**32, 1 << 20
        sack.gaps = [(2, 1 + extra)]
        await sctp._receive_sack_chunk(sack)
    return (time.thread_time() - start) / outstanding


async def measure() -> dict[tuple[str, str, int], list[float]]:
    """Each (side, code, k)'s seconds per packet, one figure per round. Within a round
    every k runs back to back over the same number of packets (the largest k's; a
    smaller k repeats its scenario), so the host's pace, which comes and goes on this
    shared machine, weighs alike on the figures a round's ratio compares."""
    cost: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(ROUNDS):
        for held in HELD:
            repeats = max(HELD) // held
            for side, run in (("receiver", receiver), ("sender", sender)):
                for name, lean in (("aiortc", False), ("ours", True)):
                    took = [await run(held, lean) for _ in range(repeats)]
                    cost.setdefault((side, name, held), []).append(sum(took) / repeats)
    return cost


def main() -> None:
    cost = asyncio.run(measure())
    us = {key: statistics.median(values) * 1e6 for key, values in cost.items()}
    small, large = HELD[0], HELD[-1]

    def per_round(side: str, name: str) -> float:
        """The median over rounds of the cost at the largest k over the smallest."""
        return statistics.median(a / b for a, b in zip(cost[side, name, large],
                                                       cost[side, name, small], strict=True))

    rows = []
    for side, ours in (("receiver", "held TSNs as runs"), ("sender", "lean transmit")):
        for name, label in (("aiortc", "aiortc 1.16"), ("ours", ours)):
            cells = " | ".join(f"{us[side, name, k]:.1f}" for k in HELD)
            rows.append(f"| {side} | {label} | {cells} |")
    header = " | ".join(f"k = {k:,}" for k in HELD)
    write_section("bench_sctp_gaps", f"""
## What one loss costs aiortc's SCTP, by what it holds (`bench/bench_sctp_gaps.py`)

µs of CPU per packet while k TSNs are held beyond a gap (receiver: each held packet
and its SACK) and per SACK while k chunks are outstanding behind a hole (sender),
median of {ROUNDS} rounds (each k over {max(HELD):,} packets a round), no DTLS and no
socket (the association's own Python only).
A cost that does not grow with k is O(1) per packet; one that grows in step with it
makes a loss cost O(k²) over the round trip that recovers it.

| side | code | {header} |
| --- | --- | {" | ".join("---:" for _ in HELD)} |
{chr(10).join(rows)}
""")
    for side, name in (("receiver", "aiortc"), ("receiver", "ours"), ("sender", "aiortc"),
                       ("sender", "ours")):
        print(f"{side} ({name}): {us[side, name, small]:.1f} us at k={small}, "
              f"{us[side, name, large]:.1f} us at k={large}")
    for side in ("receiver", "sender"):
        summary(f"sctp_{side}_per_packet_k{large}_over_k{small}", per_round(side, "ours"),
                FLAT, higher_is_better=False)
    summary(f"sctp_receiver_aiortc_over_ours_k{large}",
            statistics.median(a / b for a, b in zip(cost["receiver", "aiortc", large],
                                                     cost["receiver", "ours", large],
                                                     strict=True)),
            None, higher_is_better=True)


if __name__ == "__main__":
    main()
