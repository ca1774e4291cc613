"""The page's flow-control window (web/js/window.js) grows as the CLI's does
(transfer_core/transport/window.py): the same sends and acknowledgements, at the same
times and path round trips, give the same limit after every `have`, in real Chromium;
and a page that sends reads its path's round trip from its ICE candidate pair."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_flow_window import _simulate
from transfer_core.protocol.ranges import RangeSet
from transfer_core.transport.window import FLOW_WINDOW_BYTES, FLOW_WINDOW_MAX_BYTES, SendWindow

from .conftest import Stack
from .test_web_client import open_send_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Replays [op, a, b, time] steps: ["sent", index, size, t] or ["acked", end, path rtt, t]
# (the receiver holds records 0..end-1); returns the limit after each acknowledgement.
REPLAY = """async ([steps, start, most]) => {
  const { SendWindow, FLOW_WINDOW_BYTES, FLOW_WINDOW_MAX_BYTES } = await import("./js/window.js");
  let now = 0;
  let rtt = null;
  const window = new SendWindow(start ?? undefined, most ?? undefined, () => rtt, () => now);
  const limits = [];
  for (const [op, a, b, t] of steps) {
    now = t;
    if (op === "sent") window.sent(a, b);
    else {
      rtt = b;
      window.acked([[0, a]]);
      limits.push(window.limit);
    }
  }
  return { limits, start: FLOW_WINDOW_BYTES, most: FLOW_WINDOW_MAX_BYTES };
}"""


class _Recording(SendWindow):
    """The CLI's window, writing down what it was told and when."""

    steps: list[list[Any]]
    limits: list[int]

    def sent(self, index: int, size: int) -> None:
        self.steps.append(["sent", index, size, self._clock()])
        super().sent(index, size)

    def acked(self, held: RangeSet) -> None:
        (start, end), = held.ranges()
        assert start == 0
        self.steps.append(["acked", end, self._path_rtt(), self._clock()])
        super().acked(held)
        self.limits.append(self.limit)


def _recorded(monkeypatch: pytest.MonkeyPatch, **path: float) -> _Recording:
    made: list[_Recording] = []

    def recording(*args: Any, **kwargs: Any) -> _Recording:
        window = _Recording(*args, **kwargs)
        window.steps, window.limits = [], []
        made.append(window)
        return window

    monkeypatch.setattr("tests.unit.test_flow_window.SendWindow", recording)
    _simulate(**path)  # type: ignore[arg-type]
    return made[0]


@pytest.mark.parametrize("path", [
    {"rtt": 0.1, "link": 50e6},  # grows to the ceiling
    {"rtt": 0.15, "link": 12e6},  # grows part of the way
    {"rtt": 0.0002, "link": 1e9, "service": 50e6},  # loopback: stays near the start
])
def test_the_page_tunes_its_window_as_the_cli_does(
    new_tab: Any, stack: Stack, monkeypatch: pytest.MonkeyPatch, path: dict[str, float],
) -> None:
    cli = _recorded(monkeypatch, **path)
    assert len(set(cli.limits)) > 1 or path.get("service")  # the paths that grow, grew
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    page = tab.page.evaluate(REPLAY, [cli.steps, None, None])
    assert (page["start"], page["most"]) == (FLOW_WINDOW_BYTES, FLOW_WINDOW_MAX_BYTES)
    assert page["limits"] == cli.limits
