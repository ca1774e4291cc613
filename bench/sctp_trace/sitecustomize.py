"""SCTP sender trace for bench_wan: loaded by `site` when this folder is on PYTHONPATH
and SCTP_TRACE_DIR is set, in every peer process (ours and raw aiortc alike).

It wraps three methods of aiortc's RTCSctpTransport (1.16) to count what its
congestion control does: SACKs, fast recoveries (cwnd halved on three miss reports),
T3 expiries (RTO: cwnd back to one packet) with the RTO each time, chunks sent and
re-sent, and time-weighted means of cwnd, bytes in flight and how often the sender had
nothing queued (application-limited). At exit each transport that sent data writes
one JSON file `<pid>-<n>.json` into SCTP_TRACE_DIR. An engine receiver also writes
`<pid>-sink.json`: how long `PartialFile.accept` held its event loop per record (a
stalled receiver delays its SACKs; #13; the engine runs uvloop, so the loop itself is
not timed). Measurement only: a benchmark helper, never loaded by the CLI or the tests.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: nothing imported here before `python -m` runs
    from aiortc import RTCSctpTransport

    from transfer_core.webrtc.sctp_ack import DelayedAck

_DIR = os.environ.get("SCTP_TRACE_DIR")


def _when_imported(name: str, then) -> None:
    """Call `then(module)` once `name` is imported, from wherever the process imports
    it: importing it here, before `python -m` puts its own folder first on sys.path,
    would take another checkout's code (bench_wan --baseline)."""
    import importlib.abc
    import sys

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            import importlib.util

            spec = importlib.util.find_spec(fullname)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def run(module):
                    exec_module(module)
                    then(module)

                spec.loader.exec_module = run  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Finder())


def _install_sink_timing(sink) -> None:
    took: list[float] = []
    original_accept = sink.PartialFile.accept
    clock = time.perf_counter

    def accept(self, *args, **kwargs):
        began = clock()
        try:
            return original_accept(self, *args, **kwargs)
        finally:
            took.append(clock() - began)

    sink.PartialFile.accept = accept

    def dump() -> None:
        if not took:
            return
        ms = sorted(t * 1000 for t in took)
        doc = {"records": len(ms), "sum_ms": round(sum(ms), 1),
               "p50_ms": round(ms[len(ms) // 2], 3), "p99_ms": round(ms[len(ms) * 99 // 100], 2),
               "max_ms": round(ms[-1], 2), "over_5ms": sum(t >= 5 for t in ms)}
        assert _DIR is not None  # installed only when SCTP_TRACE_DIR is set
        with open(os.path.join(_DIR, f"{os.getpid()}-sink.json"), "w") as f:
            json.dump({"accept": doc}, f)

    atexit.register(dump)


def _install() -> None:
    from aiortc import rtcsctptransport as m

    cls = m.RTCSctpTransport
    traces: list[dict] = []
    original_sack, original_t3, original_send_chunk = (
        cls._receive_sack_chunk, cls._t3_expired, cls._send_chunk)

    def trace_of(self) -> dict:
        t = self.__dict__.get("_bench_trace")
        if t is None:
            t = self._bench_trace = {
                "sacks": 0, "fast_recoveries": 0, "t3_expiries": 0, "rto_at_t3": [],
                "data_sent": 0, "data_resent": 0, "bytes_sent": 0,
                "cwnd_max": 0, "_last": None, "_w": 0.0, "_cwnd": 0.0, "_flight": 0.0,
                "_idle": 0.0, "_recovery": 0.0, "_srtt": 0.0, "_srtt_w": 0.0,
                "started": time.monotonic(),
            }
            traces.append(t)
        return t

    def sample(self, t: dict) -> None:
        now = time.monotonic()
        if t["_last"] is not None:
            dt = now - t["_last"]
            t["_w"] += dt
            t["_cwnd"] += dt * self._cwnd
            t["_flight"] += dt * self._flight_size
            if not self._outbound_queue and not self._data_channel_queue:
                t["_idle"] += dt
            if self._fast_recovery_exit is not None:
                t["_recovery"] += dt
            if self._srtt is not None:
                t["_srtt"] += dt * self._srtt
                t["_srtt_w"] += dt
        t["_last"] = now
        t["cwnd_max"] = max(t["cwnd_max"], self._cwnd)

    async def receive_sack(self, chunk):
        t = trace_of(self)
        sample(self, t)
        before = self._fast_recovery_exit
        await original_sack(self, chunk)
        t["sacks"] += 1
        if before is None and self._fast_recovery_exit is not None:
            t["fast_recoveries"] += 1

    def t3_expired(self):
        t = trace_of(self)
        sample(self, t)
        t["t3_expiries"] += 1
        if len(t["rto_at_t3"]) < 50:
            t["rto_at_t3"].append(round(self._rto, 3))
        return original_t3(self)

    async def send_chunk(self, chunk):
        if isinstance(chunk, m.DataChunk):
            t = trace_of(self)
            if chunk._sent_count > 1:
                t["data_resent"] += 1
            else:
                t["data_sent"] += 1
                t["bytes_sent"] += len(chunk.user_data)
            t["srtt"] = self._srtt
            t["rto"] = self._rto
        return await original_send_chunk(self, chunk)

    # the trace wraps aiortc's own methods in place: every transport of the process
    cls._receive_sack_chunk = receive_sack  # type: ignore[method-assign]
    cls._t3_expired = t3_expired  # type: ignore[method-assign]
    cls._send_chunk = send_chunk  # type: ignore[method-assign]

    def dump() -> None:
        for n, t in enumerate(traces):
            if t["data_sent"] < 100:
                continue
            w = t.pop("_w") or 1e-9
            doc = {k: v for k, v in t.items() if not k.startswith("_")}
            doc.update(
                seconds=round(time.monotonic() - t["started"], 2),
                cwnd_mean=round(t["_cwnd"] / w), flight_mean=round(t["_flight"] / w),
                idle_share=round(t["_idle"] / w, 3), recovery_share=round(t["_recovery"] / w, 3),
                srtt_mean=round(t["_srtt"] / (t["_srtt_w"] or 1e-9), 4),
                resent_share=round(t["data_resent"] / max(1, t["data_sent"]), 4),
                argv=" ".join(sys.argv[:2]),
            )
            assert _DIR is not None  # installed only when SCTP_TRACE_DIR is set
            with open(os.path.join(_DIR, f"{os.getpid()}-{n}.json"), "w") as f:
                json.dump(doc, f)

    atexit.register(dump)


def _ack_experiment(spec: str) -> None:
    """SCTP_TRACE_ACK=EVERY:MAX_DELAY[:AFTER_LOSS[:IDLE_ACK[:EVERY_SMALL[:START_BYTES]]]] runs our
    engine with another acknowledgement policy (`AckPolicy.parse`; bench_wan --ack /
    --also-ack; raw aiortc has no such adapter). Works with or without SCTP_TRACE_DIR."""
    from transfer_core.webrtc import channel
    from transfer_core.webrtc.sctp_ack import DEFAULT_ACK_POLICY, AckPolicy

    chosen = AckPolicy.parse(spec)
    install = channel.install_delayed_ack

    # install_delayed_ack's signature (mypy checks it); the engine's own policy is ignored
    def install_ours(sctp: RTCSctpTransport | None,
                     policy: AckPolicy = DEFAULT_ACK_POLICY) -> DelayedAck | None:
        return install(sctp, chosen)

    channel.install_delayed_ack = install_ours


try:
    if _DIR:
        _install()
        if sys.argv[:1] == ["-m"]:  # our CLI (`python -m transfer_core.cli`)
            _when_imported("transfer_core.sink", _install_sink_timing)
    if os.environ.get("SCTP_TRACE_ACK"):
        _ack_experiment(os.environ["SCTP_TRACE_ACK"])
except Exception as exc:  # noqa: BLE001 - a benchmark aid must never stop a peer
    print(f"sctp_trace: not installed: {exc}", file=sys.stderr)
