"""Raw aiortc, the baseline of bench_wan: one data channel, 64 KiB messages, no crypto,
no files, run inside a lab LAN namespace. The two peers swap SDP through files in a
shared folder (the filesystem is shared across network namespaces).

    python bench/wan_raw_peer.py send|receive FOLDER BYTES STUN_URL

The receiver prints `{"mb_per_s": ..., "seconds": ..., "route": "host/srflx"}`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from transfer_core.webrtc.ice import selected_path

MESSAGE = 64 * 1024
HIGH, LOW = 1 << 20, 256 << 10


async def wait_file(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().endswith("\n.\n"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path.name}")
        await asyncio.sleep(0.05)
    return path.read_text()[:-3]


async def main(role: str, folder: Path, total: int, stun: str) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=[stun])]))
    done = asyncio.get_running_loop().create_future()
    if role == "send":
        channel = pc.createDataChannel("bench", ordered=True)
        channel.bufferedAmountLowThreshold = LOW
        opened = asyncio.get_running_loop().create_future()

        def on_open() -> None:
            if not opened.done():
                opened.set_result(None)

        channel.on("open", on_open)
        low = asyncio.Event()
        channel.on("bufferedamountlow", low.set)
        await pc.setLocalDescription(await pc.createOffer())
        (folder / "offer").write_text(pc.localDescription.sdp + "\n.\n")
        answer = await wait_file(folder / "answer")
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await opened
        payload = bytes(MESSAGE)
        sent = 0
        while sent < total:
            if channel.bufferedAmount >= HIGH:
                low.clear()
                await low.wait()
            channel.send(payload)
            sent += MESSAGE
        await wait_file(folder / "finished", 600)
    else:
        started: list[float] = []
        received = 0

        def on_datachannel(channel):
            def on_message(message: bytes) -> None:
                nonlocal received
                if not started:
                    started.append(time.perf_counter())
                received += len(message)
                if received >= total and not done.done():
                    done.set_result(time.perf_counter())

            channel.on("message", on_message)

        pc.on("datachannel", on_datachannel)
        offer = await wait_file(folder / "offer")
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        (folder / "answer").write_text(pc.localDescription.sdp + "\n.\n")
        ended = await asyncio.wait_for(done, 600)
        seconds = ended - started[0]
        path = selected_path(pc)
        print(json.dumps({"mb_per_s": total / 1e6 / seconds, "seconds": seconds,
                          "route": path.label if path else None}), flush=True)
        (folder / "finished").write_text("\n.\n")
        await asyncio.sleep(0.2)
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
