// The page: settings, the protocol self-check, the send and receive views.
//
// Settings (query parameters of the page; the link a sender shares keeps them):
//   server   signalling WebSocket URL; default: config.json's `server` (the local stack
//            writes its own; a deployment writes its API Gateway URL)
//   ice      auto | local | any: `local` signals and accepts 127.0.0.1 candidates only;
//            `auto` (default) does so when the server is on loopback
//   relay    1: relay-only ICE policy (TURN), e.g. browser to browser on loopback
//   save     auto | picker | opfs | memory (see sink.js); many files (#15): auto and picker
//            ask for a folder where the browser can write one, opfs and memory give one
//            download per file
//   memlimit in-memory receive limit in MiB (default 512)
//   record   preferred record size in KiB (default 128; the receiver may lower it)
//   p2p      seconds the sender waits for the receiver before storing the file in S3
//            (default 10, as the CLI's --p2p-timeout)
//   grace    seconds either side waits for the other to come back after a break (default 60)
//   storage  0: never store (the sending page stays open until the receiver has it all)

import { formatBytes } from "./bytes.js";
import { offerCode, useCode } from "./code.js";
import { CLOSED, limitsFrom, revoke } from "./control.js";
import { FanOutSender, fanOutDoneText, laneLines, receiversFrom } from "./fanout.js";
import { parseCode } from "./pake.js";
import { bindRelayOnly } from "./privacy.js";
import { SendError, parseLink } from "./protocol.js";
import { QR_ECC, drawQr } from "./qr.js";
import { cleanResumable } from "./resume.js";
import { forgetUpload, pendingUploads, uploadFor } from "./upload-resume.js";
import { runVectors } from "./selftest.js";
import { Meter, Receiver, Sender } from "./session.js";
import { PickerSink } from "./sink.js";
import { DEFAULT_MEMORY_LIMIT } from "./sink.js";
import { Selection, droppedItems, pickedItems } from "./tree.js";

const $ = (id) => document.getElementById(id);
const MiB = 1024 * 1024;

const ADVICE = {
  "bad-link": ["This link is not complete", "Copy the whole link, including everything after '#', and open it again."],
  expired: ["Nothing is being sent on this link", "The transfer has finished, expired, or the sender closed their page. Ask the sender for a new link."],
  refused: ["Connection refused: possible interception", "A message between you and the other side was altered or replayed on the way, so the page refused to connect. Nothing was sent. Try again, ideally from another network."],
  verification: ["The file did not verify", "Nothing unverified was saved. Ask the sender to send the file again."],
  disk: ["The file could not be saved in this browser", "Free some disk space and open the link again: what was already saved is kept, and the transfer goes on from there."],
  "too-large": ["This file is too large for this browser", "Use a browser that can save to disk as the file arrives, or the sgraph-send command-line tool."],
  network: ["Connection problem", "Check your connection and try again: reopening the link goes on from what this browser already received."],
  "source-changed": ["The file changed while it was being sent", "Pick the file again and share the new link."],
  storage: ["The file could not be stored for later", "The receiver was not connected, so the page tried to store the encrypted file for it and could not. Check your connection and send it again, or keep both pages open and send it directly."],
  exists: ["The receiver already has that file", "The receiver can remove it or choose another folder, then open the link again."],
  protocol: ["The other side sent something unexpected", "Make sure both sides use a current version, then try again."],
  internal: ["Something went wrong in this page", "Reload the page and try again."],
  receivers: ["Choose another number of receivers", "Pick the file again with a number of receivers this server takes (1 sends the usual way)."],
  limits: ["These limits cannot be used", "Choose fewer downloads or a shorter expiry (the server keeps a file at most 7 days by default) and pick the file again."],
};

// a link closed by its sender's rules (control.js): distinct from "nothing is being sent"
const CLOSED_ADVICE = {
  expired: ["This link has expired", "Its stored file was deleted when the time the sender chose ran out. Ask the sender for a new link."],
  "used-up": ["This link is used up", "It was downloaded as many times as the sender allowed, and its stored file was deleted. Ask the sender for a new link."],
  revoked: ["The sender revoked this link", "Its stored file was deleted. Ask the sender for a new link."],
};

function loopback(server) {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(server).hostname);
  } catch {
    return false;
  }
}

async function loadSettings() {
  const q = new URLSearchParams(location.search);
  let server = q.get("server");
  if (!server) {
    try {
      server = (await (await fetch("config.json", { cache: "no-store" })).json()).server;
    } catch {
      server = "";
    }
  }
  const ice = q.get("ice") || "auto";
  const settings = {
    server,
    localOnly: ice === "local" || (ice === "auto" && loopback(server)),
    relayOnly: q.get("relay") === "1",
    save: q.get("save") || "auto",
    memoryLimit: q.get("memlimit") ? Number(q.get("memlimit")) * MiB : DEFAULT_MEMORY_LIMIT,
    recordSize: (Number(q.get("record")) || 128) * 1024,
    p2pTimeoutMs: (q.has("p2p") && Number(q.get("p2p")) >= 0 ? Number(q.get("p2p")) : 10) * 1000,
    storage: q.get("storage") !== "0",
    connectTimeoutMs: 15_000,
    reconnectGraceMs: (Number(q.get("grace")) || 60) * 1000,
    linkFor: (code) => `${location.origin}${location.pathname}${location.search}#${code}`,
  };
  return settings;
}

// --- the view ---------------------------------------------------------------------------

function duration(seconds) {
  if (seconds === null || !isFinite(seconds)) return "–";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s left`;
}

// the progress line repaints at most this often: a transfer reports it on every `have`
// (several per MiB, on both pages), and repainting each time kept the renderer and the
// compositor busy beside the transfer (#14); the final figure always shows at once
const PROGRESS_MS = 100;

function makeReport() {
  const meter = new Meter();
  let latest = null;
  let shownAt = -Infinity;
  let timer = null;
  const showProgress = () => {
    clearTimeout(timer);
    timer = null;
    shownAt = performance.now();
    const [done, total] = latest;
    const m = meter.add(done, total);
    $("progress").max = total || 1;
    $("progress").value = total ? done : 1;
    $("bytes").textContent = `${formatBytes(done)} of ${formatBytes(total)}`;
    $("rate").textContent = `${(m.rate / 1e6).toFixed(1)} MB/s`;
    $("eta").textContent = done >= total ? "complete" : duration(m.eta);
  };
  return {
    state(state, text) {
      document.body.dataset.state = state;
      $("state-label").textContent = state;
      $("status").textContent = text;
      $("transfer").hidden = false;
    },
    link(link) {
      $("link").value = link;
      $("link-box").hidden = false;
      window.sgraph.link = link;
      const qr = drawQr($("qr"), link);
      window.sgraph.qr = { ecc: QR_ECC, version: qr.version, mask: qr.mask, rows: qr.rows.map((r) => r.map(Number).join("")) };
    },
    preparing(done, total) {
      $("status").textContent = `Preparing the file (SHA-256): ${total ? Math.floor((100 * done) / total) : 100} %`;
    },
    manifest(m) {
      $("file-name").textContent = m.safeName;
      $("file-size").textContent = `(${formatBytes(m.size)})`;
      $("file-info").hidden = false;
      $("receive-view").hidden = false;
    },
    sink(kind) {
      window.sgraph.sink = kind;
    },
    path(path) {
      const text = { direct: "direct (peer to peer)", relay: "relay (TURN)", storage: "storage (S3)", mixed: "direct, then storage (S3)" }[path] || path;
      $("path").textContent = text;
      window.sgraph.path = path;
    },
    entrySaved(item) {
      // many files (#15): each verified file as it completes (a download, or in the folder)
      window.sgraph.saved = [...(window.sgraph.saved || []), { path: item.path, size: item.size, name: item.name }];
      if (item.blob) {
        const a = document.createElement("a");
        a.href = URL.createObjectURL(item.blob);
        a.download = item.name;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      }
      $("status").textContent = `Saved ${item.path}`;
    },
    // a send to several receivers (#15): one line each (fanout.js)
    lane: laneLines($("lanes"), (lanes) => (window.sgraph.lanes = lanes)),
    progress(done, total) {
      latest = [done, total];
      const wait = PROGRESS_MS - (performance.now() - shownAt);
      if (done >= total || wait <= 0) showProgress();
      else timer ??= setTimeout(showProgress, wait);
    },
  };
}

const WRONG_CODE = ["Wrong code", "The two sides typed different codes, or someone in between guessed and failed. Nothing was sent. The code is used up: the sender makes a new one."];

function showError(e) {
  const reason = CLOSED[e.code] ?? (e.kind === "closed" && CLOSED_ADVICE[e.code] ? e.code : null);
  const kind = reason ? "closed" : e instanceof SendError ? e.kind : "internal";
  if (reason) e = new SendError("closed", e.message, reason);
  const [title, advice] = reason ? CLOSED_ADVICE[reason] : e.code === "wrong-code" ? WRONG_CODE : ADVICE[kind] || ADVICE.internal;
  document.body.dataset.state = "failed";
  document.body.dataset.error = kind;
  $("state-label").textContent = "failed";
  $("status").textContent = "";
  $("error-title").textContent = title;
  $("error-message").textContent = e.message;
  $("error-advice").textContent = advice;
  $("error").hidden = false;
  window.sgraph.error = { kind, code: e.code || "", message: e.message };
  if (!(e instanceof SendError)) console.error(e);
}

function offerDownload(result) {
  const a = $("save-link");
  if (result.blob) {
    a.href = URL.createObjectURL(result.blob);
    a.download = result.name;
    a.hidden = false;
    a.click(); // the verified file goes to the browser's downloads
  } else a.hidden = true;
  $("saved").hidden = false;
}

// --- modes --------------------------------------------------------------------------------

/** Uploads interrupted in this browser, to finish by picking the same file (upload-resume.js). */
function showPending() {
  const pending = pendingUploads();
  window.sgraph.pending = pending.map(({ name, size, first }) => ({ name, size, first }));
  $("pending-list").replaceChildren(...pending.map((n) => {
    const item = document.createElement("li");
    item.textContent = `${n.name} (${formatBytes(n.size)}), started ${new Date(n.started).toLocaleString()}`;
    return item;
  }));
  $("pending").hidden = !pending.length;
  // the stored copy stays until it expires; forgetting only drops this browser's note
  $("pending-forget").onclick = () => {
    for (const n of pending) forgetUpload(n.roomId);
    showPending();
  };
}

function sendMode(settings) {
  document.body.dataset.mode = "send";
  $("send-view").hidden = false;
  document.body.dataset.state = "idle";
  showPending();
  const drop = $("drop");
  let started = false;
  const start = async (file) => {
    if (!file || started) return;
    // several files or a folder (#15): one transfer of them all
    if (Array.isArray(file)) {
      if (!file.length) return;
      try {
        file = file.length === 1 && !file[0].path.includes("/") && file[0].file ? file[0].file : new Selection(file);
      } catch (e) {
        showError(e);
        return;
      }
    }
    started = true;
    drop.hidden = true;
    $("pending").hidden = true;
    const report = makeReport();
    const resume = uploadFor(file);
    report.state("preparing", resume ? `Checking that ${file.name} is the file whose upload was interrupted…`
      : `Preparing ${file.name} (${formatBytes(file.size)})…`);
    let offered = null;
    try {
      const limits = limitsFrom($("downloads").value, $("expires").value);
      $("limits").hidden = true;
      const receivers = receiversFrom($("receivers").value, { code: $("use-code").checked, limits });
      $("receivers-row").hidden = true;
      if (receivers > 1) {
        const summary = await new FanOutSender(file, settings, report, receivers).run();
        window.sgraph.summary = summary;
        report.state("done", fanOutDoneText(summary));
        $("rate").textContent = `${summary.mbPerS.toFixed(1)} MB/s in all`;
        return;
      }
      if ($("use-code").checked && !resume) {
        // a spoken code first (docs/protocol.md §11); then the same transfer as a link's
        $("code-form").hidden = true;
        offered = await offerCode(settings, (text) => {
          $("spoken-code").textContent = text;
          $("code-box").hidden = false;
          window.sgraph.code = text;
          report.state("code", "Waiting for the receiver to type the code…");
        });
      }
      const options = offered ? { secret: offered.secret, onJoined: () => offered.release() } : { resume };
      options.limits = limits;
      const summary = await new Sender(file, settings, report, options).run();
      window.sgraph.summary = summary;
      if (summary.storedUntil) {
        const until = new Date(summary.storedUntil * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
        $("link-advice").textContent = `Share this link with the receiver: it can fetch the file until ${until}.`;
        report.state("stored", `Stored ${summary.name} (${formatBytes(summary.size)}, encrypted) for the receiver: waiting for the receiver until ${until}. The link stays the same; you can close this page.`);
        offerRevoke(settings, window.sgraph.link);
      } else {
        report.state("done", `Sent ${summary.name} (${formatBytes(summary.size)}) in ${summary.seconds.toFixed(1)} s; the receiver verified it.${summary.receipts?.length ? ` Signed receipt from receiver ${summary.receipts[0].receiver}.` : ""}`);
      }
      $("rate").textContent = `${summary.mbPerS.toFixed(1)} MB/s average`;
    } catch (e) {
      showError(e);
    } finally {
      offered?.release();
    }
  };
  $("file").addEventListener("change", (e) => start(pickedItems(e.target.files)));
  $("folder")?.addEventListener("change", (e) => start(pickedItems(e.target.files)));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    droppedItems(e.dataTransfer).then(start, showError);
  });
  $("copy").addEventListener("click", () => navigator.clipboard?.writeText($("link").value));
  $("code-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (started) return;
    started = true;
    $("send-view").hidden = true;
    receiveMode(settings, async (report) => {
      const code = parseCode($("code-input").value);
      report.state("code", `Checking the code with the sender (number ${code.nameplate})…`);
      return useCode(settings, code);
    });
  });
}

/** The "Revoke" button of a stored transfer: deletes it now (control.js). */
function offerRevoke(settings, link) {
  const button = $("revoke");
  $("revoke-box").hidden = false;
  button.onclick = async () => {
    button.disabled = true;
    try {
      const closed = await revoke(settings, parseLink(link));
      window.sgraph.revoked = closed;
      $("revoke-box").hidden = true;
      $("link-advice").textContent = "This link no longer works: its stored file was deleted.";
      document.body.dataset.state = "revoked";
      $("state-label").textContent = "revoked";
      $("status").textContent = closed === "revoked" ? "Revoked: the stored file is deleted; opening the link now says so." : `This link was already closed (${closed}); nothing is stored for it.`;
    } catch (e) {
      button.disabled = false;
      showError(e);
    }
  };
}

function askPicker(name, kind = "file") {
  const button = $("pick-save");
  if (kind === "folder") {
    // many files (#15): a folder to save them into (File System Access API)
    button.textContent = "Choose a folder to save into";
    button.hidden = false;
    $("receive-view").hidden = false;
    document.body.dataset.state = "choose";
    $("status").textContent = `Choose a folder for ${name}; the files start arriving then.`;
    return new Promise((resolve, reject) => {
      button.onclick = () => {
        button.hidden = true;
        window.showDirectoryPicker({ mode: "readwrite" }).then(resolve, reject);
      };
    });
  }
  button.hidden = false;
  $("receive-view").hidden = false;
  document.body.dataset.state = "choose";
  $("status").textContent = "Choose where to save the file; it starts arriving then.";
  return new Promise((resolve, reject) => {
    button.onclick = () => {
      button.hidden = true;
      PickerSink.create(name).then(resolve, reject);
    };
  });
}

/** `secretOf(report)`: the secret from a spoken code; by default the link's fragment. */
async function receiveMode(settings, secretOf = null) {
  document.body.dataset.mode = "receive";
  const report = makeReport();
  report.state("joining", "Opening the link…");
  try {
    // the fragment is read here and never leaves the page: no request carries it
    const secret = secretOf ? await secretOf(report) : parseLink(location.hash);
    const result = await new Receiver(secret, settings, report, askPicker).run();
    window.sgraph.summary = { ...result, blob: undefined };
    const kept = result.resumedBytes ? ` (${formatBytes(result.resumedBytes)} of it kept from before a reload)` : "";
    report.state("done", `Received ${result.name} (${result.sizeText})${kept} in ${result.seconds.toFixed(1)} s; SHA-256 verified.`);
    $("rate").textContent = `${result.mbPerS.toFixed(1)} MB/s average`;
    offerDownload(result);
  } catch (e) {
    showError(e);
  }
}

async function main() {
  window.sgraph = { state: () => document.body.dataset.state };
  const settings = await loadSettings();
  bindRelayOnly(settings);
  $("server").textContent = settings.server || "(not configured)";
  window.sgraph.settings = { ...settings, linkFor: undefined };
  const selftest = runVectors().then((r) => {
    $("selftest").textContent = r.passed === r.total ? `${r.passed}/${r.total} vectors passed` : `FAILED ${r.total - r.passed} of ${r.total}`;
    window.sgraph.vectors = r;
    return r;
  }, (e) => {
    $("selftest").textContent = `could not run (${e.message})`;
    return { passed: 0, total: 0, results: [], error: e.message };
  });
  window.sgraph.selftest = selftest;
  const checked = await selftest;
  if (checked.total && checked.passed !== checked.total) {
    showError(new SendError("internal", "This browser computes the protocol's test vectors differently, so it cannot send or receive safely."));
    return;
  }
  // received files kept for a reload: drop those saved since, or abandoned (resume.js)
  window.sgraph.cleaned = cleanResumable().catch((e) => console.info("could not clean up:", e.message));
  await window.sgraph.cleaned;
  if (location.hash.length > 1) await receiveMode(settings);
  else sendMode(settings);
}

main();
