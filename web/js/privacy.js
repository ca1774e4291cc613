// The "relay only (hide my address)" control: a visible switch for the relay-only ICE
// policy (until now only the `?relay=1` query parameter). With it on, this browser
// gathers and signals TURN-relayed candidates only, so the other side never learns its
// addresses (docs/networking.md §2). The choice is remembered in this browser
// (localStorage), so a receiver who set it once is covered when a link opens straight
// into receiving. It applies to connections made after it is changed.

const KEY = "sgraph-send.relay-only";

function remembered() {
  try {
    return localStorage.getItem(KEY) === "1";
  } catch {
    return false; // storage blocked: the switch still works for this page
  }
}

function remember(on) {
  try {
    localStorage.setItem(KEY, on ? "1" : "0");
  } catch {
    // storage blocked: nothing to remember it in
  }
}

/** Bind the `#relay-only` checkbox to `settings.relayOnly` (`?relay=1` turns it on). */
export function bindRelayOnly(settings, box = document.getElementById("relay-only")) {
  if (!box) return;
  settings.relayOnly = settings.relayOnly || remembered();
  box.checked = settings.relayOnly;
  box.addEventListener("change", () => {
    settings.relayOnly = box.checked;
    remember(box.checked);
  });
}
