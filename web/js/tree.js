// Many files and folders in one transfer (docs/protocol.md, "Revision 2.1 (#15)").
//
// The files' bytes, in list order, end to end, are the transfer's one stream: chunked,
// sealed, resumed and stored exactly like one file's. This module holds what differs:
// the path rules (as transfer_core/protocol/paths.py), the version-2 manifest, the
// sender's selection (a File-like view over many files) and the receiver's tree sink
// (each file hashed as it arrives and saved once it verifies).

import { SendError, Layout, fileHasher, parseManifest, safeName } from "./protocol.js";
import { utf8, utf8d } from "./bytes.js";
import { TreeProgress } from "./resume.js";

export const TREE_MANIFEST_VERSION = 2;
const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const SURROGATE = /\p{Cs}/u;
const DRIVE = /^[A-Za-z]:/;
const DEVICE = /^(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$)$/i;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const CREATED = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

const unsafe = (reason, path, message) => new SendError("verification", `Unsafe path ${JSON.stringify(path)}: ${message}.`, reason);

/** The rule `path` breaks (protocol.md, revision 2.1), or null. */
export function pathProblem(path) {
  if (path === "") return "empty";
  if (SURROGATE.test(path)) return "unicode";
  if (utf8.encode(path).length > MAX_PATH_BYTES) return "too-long";
  if (path.startsWith("/") || DRIVE.test(path)) return "absolute";
  if (path.includes("\\")) return "separator";
  if (CONTROL.test(path)) return "control";
  for (const segment of path.split("/")) {
    if (segment === "") return "empty-segment";
    if (segment === "." || segment === "..") return "dot-segment";
    if (utf8.encode(segment).length > MAX_SEGMENT_BYTES) return "too-long";
    if (DEVICE.test(segment.split(".")[0].replace(/[ .]+$/, ""))) return "reserved-name";
  }
  return null;
}

/** NFC, then case-folded (toUpperCase then toLowerCase folds ß to ss, as Python's casefold). */
export function pathKey(path) {
  return path.normalize("NFC").toUpperCase().toLowerCase().normalize("NFC");
}

/** The rule a list of [path, isDir] breaks as a whole or in a path, or null. */
export function treeProblem(entries) {
  const seen = new Map();
  for (const [path, isDir] of entries) {
    const problem = pathProblem(path);
    if (problem) return { reason: problem, path };
    const key = pathKey(path);
    if (seen.has(key)) return { reason: "collision", path };
    seen.set(key, isDir);
  }
  for (const [key] of seen) {
    const parts = key.split("/");
    for (let depth = 1; depth < parts.length; depth++) {
      if (seen.get(parts.slice(0, depth).join("/")) === false) return { reason: "file-in-file", path: key };
    }
  }
  return null;
}

function checkTree(entries) {
  const problem = treeProblem(entries);
  if (problem) throw unsafe(problem.reason, problem.path, `it breaks the rule '${problem.reason}'`);
}

/** Canonical JSON at every depth: keys sorted, no whitespace (as Python's sort_keys). */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function entryDoc(e) {
  return e.kind === "dir" ? { kind: "dir", mtime: e.mtime, path: e.path }
    : { kind: "file", mtime: e.mtime, path: e.path, sha256: e.sha256, size: e.size };
}

/** Canonical version-2 manifest JSON. */
export function treeManifestJson(m) {
  const size = m.entries.reduce((n, e) => n + (e.size || 0), 0);
  const layout = new Layout(size, m.record_size);
  return utf8.encode(canonicalJson({ v: TREE_MANIFEST_VERSION, entries: m.entries.map(entryDoc), size, record_size: m.record_size, chunk_count: layout.count, created: m.created }));
}

const natural = (v) => Number.isSafeInteger(v) && v >= 0;

/** A manifest of either version -> an object with `layout`, `size`, `name`; a tree also
 *  has `entries` (each with its stream offset `start`). */
export function parseAnyManifest(bytes) {
  let doc;
  try {
    doc = JSON.parse(utf8d.decode(bytes));
  } catch {
    doc = null;
  }
  if (!doc || doc.v !== TREE_MANIFEST_VERSION || !("entries" in doc)) return parseManifest(bytes);
  const bad = (msg) => new SendError("verification", `The manifest is invalid: ${msg}.`, "manifest");
  const keys = Object.keys(doc).sort().join(",");
  if (keys !== "chunk_count,created,entries,record_size,size,v") throw bad("unexpected fields");
  if (!Array.isArray(doc.entries) || !doc.entries.length) throw bad("no entries");
  for (const f of ["size", "record_size", "chunk_count"]) if (!natural(doc[f])) throw bad(`${f} is not an integer`);
  if (typeof doc.created !== "string" || !CREATED.test(doc.created)) throw bad("the created time is not YYYY-MM-DDThh:mm:ssZ");
  let start = 0;
  const entries = doc.entries.map((e) => {
    if (!e || typeof e !== "object" || (e.kind !== "file" && e.kind !== "dir")) throw bad("an entry is not a file or a folder");
    const want = e.kind === "dir" ? "kind,mtime,path" : "kind,mtime,path,sha256,size";
    if (Object.keys(e).sort().join(",") !== want) throw bad("an entry's fields are unexpected");
    if (typeof e.path !== "string" || !natural(e.mtime)) throw bad("an entry's path or mtime has the wrong type");
    if (e.kind === "file" && (!natural(e.size) || typeof e.sha256 !== "string" || !SHA256_HEX.test(e.sha256))) throw bad("an entry's size or sha256 is invalid");
    const entry = { ...e, size: e.size || 0, start };
    start += entry.size;
    return entry;
  });
  checkTree(entries.map((e) => [e.path, e.kind === "dir"]));
  let layout;
  try {
    layout = new Layout(start, doc.record_size);
  } catch (e) {
    throw bad(e.message);
  }
  if (start !== doc.size || layout.count !== doc.chunk_count) throw bad("the size or chunk count does not follow from the entries");
  if (canonicalJson(doc) !== utf8d.decode(bytes)) throw bad("not in canonical form (sorted keys, no spaces)");
  const tops = new Set(entries.map((e) => e.path.split("/")[0]));
  const files = entries.filter((e) => e.kind === "file").length;
  const name = tops.size === 1 ? [...tops][0] : `${files} files`;
  return { ...doc, entries, layout, name, tree: true };
}

// --- the sender's side: a selection of files and folders, read as one stream ---------

/**
 * Files picked (multiple, a folder, or dropped): `items` are `{ file, path }` (path: the
 * relative POSIX path, `webkitRelativePath` or the drop's) and folders `{ path }` (empty
 * ones come only from a drop). Duck-types the parts of `File` the Sender uses.
 */
export class Selection {
  constructor(items) {
    const byPath = new Map();
    for (const item of items) {
      const parts = item.path.split("/");
      for (let depth = 1; depth < parts.length; depth++) {
        const dir = parts.slice(0, depth).join("/");
        if (!byPath.has(dir)) byPath.set(dir, { path: dir, kind: "dir" });
      }
      byPath.set(item.path, item.file ? { path: item.path, kind: "file", file: item.file } : { path: item.path, kind: "dir" });
    }
    // a folder, then its entries by name, depth first (the reference sender's order)
    const order = (a, b) => {
      const x = a.path.split("/");
      const y = b.path.split("/");
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
      return x.length - y.length;
    };
    this.entries = [...byPath.values()].sort(order);
    checkTree(this.entries.map((e) => [e.path, e.kind === "dir"]));
    const now = Math.floor(Date.now() / 1000);
    let start = 0;
    for (const e of this.entries) {
      e.size = e.file ? e.file.size : 0;
      e.mtime = e.file ? Math.floor(e.file.lastModified / 1000) : now;
      e.start = start;
      start += e.size;
    }
    this.size = start;
    this.tree = true;
    this.type = "application/octet-stream";
    const tops = new Set(this.entries.map((e) => e.path.split("/")[0]));
    const files = this.entries.filter((e) => e.file).length;
    this.name = tops.size === 1 ? [...tops][0] : `${files} files`;
  }

  /** Stream bytes [start, end) as a Blob (lazy: nothing is read until it is). */
  slice(start, end) {
    const parts = [];
    for (const e of this.entries) {
      if (!e.file || e.start + e.size <= start || e.start >= end) continue;
      parts.push(e.file.slice(Math.max(0, start - e.start), Math.min(e.size, end - e.start)));
    }
    return new Blob(parts);
  }

  /** Hash every file (per-entry SHA-256), reporting progress over the whole. */
  async hashEntries(progress, slice = 8 * 1024 * 1024) {
    let done = 0;
    for (const e of this.entries) {
      if (!e.file) continue;
      const hasher = await fileHasher();
      for (let at = 0; at < e.size; at += slice) {
        hasher.update(new Uint8Array(await e.file.slice(at, Math.min(e.size, at + slice)).arrayBuffer()));
        done += Math.min(slice, e.size - at);
        progress(done, this.size);
      }
      e.sha256 = hasher.digestHex();
    }
    return "";
  }

  manifestJson(recordSize, created) {
    return treeManifestJson({ entries: this.entries, record_size: recordSize, created });
  }
}

/** Items of a drop: folders walked (empty ones kept), symbolic links never offered. */
export async function droppedItems(dataTransfer) {
  const roots = [...dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!roots.length) return [...dataTransfer.files].map((file) => ({ file, path: file.name }));
  const items = [];
  const walk = async (entry, path) => {
    if (entry.isFile) {
      items.push({ file: await new Promise((ok, fail) => entry.file(ok, fail)), path });
      return;
    }
    items.push({ path });
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${path}/${child.name}`);
    }
  };
  for (const root of roots) await walk(root, root.name);
  return items;
}

/** Items of `<input multiple>` or `<input webkitdirectory>`. */
export function pickedItems(files) {
  return [...files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

// --- the receiver's side: the stream cut back into files -------------------------------

/**
 * Takes the verified stream in order; each file is hashed as it arrives and saved only
 * once its SHA-256 matches: into a folder the person chose (File System Access API;
 * a file's writable shows nothing until closed) or, without it, one download per file
 * (each through its own one-file sink: OPFS or memory, so never the whole set in memory).
 */
export class TreeSink {
  constructor(manifest, openFile, kind, has = null) {
    this.manifest = manifest;
    this.openFile = openFile; // (entry) -> a one-file sink {write, finish, abort}
    this.kind = kind;
    this.has = has; // (entry) -> whether it is already saved whole (a picked folder)
    this.index = -1;
    this.current = null;
    this.saved = [];
    this.held = 0; // chunks of the stream not to fetch again (saved before a reload)
    this.skip = 0; // bytes at the start of chunk `held` that belong to saved entries
  }

  /** Made, then taken up from where an earlier visit of the same link stopped. */
  static async create(manifest, settings, tag, chooseSink, askFolder, transferId = null) {
    const sink = await TreeSink.make(manifest, settings, tag, chooseSink, askFolder);
    if (transferId) await sink.resume(await TreeProgress.open(manifest, tag, transferId));
    return sink;
  }

  static async make(manifest, settings, tag, chooseSink, askFolder) {
    const dirs = manifest.entries.filter((e) => e.kind === "dir");
    // a folder wherever the browser can write one (save=auto or picker); downloads otherwise
    if ((settings.save === "picker" || settings.save === "auto") && typeof window.showDirectoryPicker === "function") {
      const root = await askFolder(manifest.name);
      const folder = async (path) => {
        let dir = root;
        for (const segment of path) dir = await dir.getDirectoryHandle(segment, { create: true });
        return dir;
      };
      for (const d of dirs) await folder(d.path.split("/"));
      const openFile = async (entry) => {
        const parts = entry.path.split("/");
        const dir = await folder(parts.slice(0, -1));
        const handle = await dir.getFileHandle(parts[parts.length - 1], { create: true });
        const writable = await handle.createWritable({ keepExistingData: false });
        return { write: (b) => writable.write(b), finish: async () => (await writable.close(), { blob: null, saved: true }), abort: () => writable.abort() };
      };
      const has = async (entry) => {
        const parts = entry.path.split("/");
        try {
          const dir = await folder(parts.slice(0, -1));
          return (await (await dir.getFileHandle(parts[parts.length - 1])).getFile()).size === entry.size;
        } catch {
          return false;
        }
      };
      return new TreeSink(manifest, openFile, "folder", has);
    }
    const openFile = (entry) => chooseSink({ size: entry.size, media_type: "application/octet-stream", safeName: downloadName(entry.path) },
      { ...settings, save: settings.save === "picker" ? "auto" : settings.save }, `${tag}-${entry.index}`, null);
    // (save=opfs or memory: one download per file, each staged on disk or in memory)
    return new TreeSink(manifest, openFile, "downloads");
  }

  /** Entries saved by an earlier visit (`record`, resume.js) are not fetched again: the
   *  stream starts at the chunk holding the first byte of the first one not saved. In a
   *  picked folder, the files must still be there whole (else from the first that is not). */
  async resume(record) {
    this.record = record;
    if (!record?.saved) return;
    const { entries, layout } = this.manifest;
    let count = record.saved;
    for (let i = 0; this.has && i < count; i++) {
      if (entries[i].kind === "file" && !(await this.has(entries[i]))) count = i;
    }
    if (!count) return;
    const start = count < entries.length ? entries[count].start : layout.size;
    this.held = Math.min(Math.floor(start / layout.chunkSize), Math.max(0, layout.count - 1));
    this.skip = start - layout.bytesInPrefix(this.held);
    this.index = count - 1;
    this.earlier = entries.slice(0, count).filter((e) => e.kind === "file").length;
  }

  get heldBytes() {
    return this.manifest.layout.bytesInPrefix(this.held);
  }

  /** Nothing to re-hash: each file was checked as it came. */
  async replay() {}

  async startEntry(index) {
    const entry = this.manifest.entries[index];
    this.index = index;
    this.current = { entry, sink: await this.openFile({ ...entry, index }), hasher: await fileHasher(), done: 0 };
  }

  /** The next bytes of the stream (verified, in order). */
  async write(bytes) {
    let at = Math.min(this.skip, bytes.length); // the end of an entry saved before a reload
    this.skip -= at;
    // files that take no bytes of the stream (empty ones) complete as they are reached
    while (at < bytes.length || this.pendingEmpty()) {
      if (!this.current) {
        const next = this.nextFile(this.index + 1);
        if (next < 0) break;
        await this.startEntry(next);
      }
      const { entry } = this.current;
      const take = Math.min(entry.size - this.current.done, bytes.length - at);
      if (take > 0) {
        const piece = bytes.subarray(at, at + take);
        this.current.hasher.update(piece);
        await this.current.sink.write(piece);
        this.current.done += take;
        at += take;
      }
      if (this.current.done === entry.size) await this.endEntry();
    }
  }

  nextFile(from) {
    const { entries } = this.manifest;
    for (let i = from; i < entries.length; i++) if (entries[i].kind === "file") return i;
    return -1;
  }

  pendingEmpty() {
    if (this.current) return false;
    const next = this.nextFile(this.index + 1);
    return next >= 0 && this.manifest.entries[next].size === 0;
  }

  async endEntry() {
    const { entry, sink, hasher } = this.current;
    this.current = null;
    if (hasher.digestHex() !== entry.sha256) {
      await sink.abort();
      throw new SendError("verification", `${entry.path}: the file's SHA-256 does not match the manifest: it was not saved.`, "hash-mismatch");
    }
    const result = await sink.finish();
    this.saved.push({ path: entry.path, size: entry.size, ...result, name: downloadName(entry.path) });
    await this.record?.note(this.index + 1, entry.size); // before it is shown as saved
    this.onSaved?.(this.saved[this.saved.length - 1]);
  }

  async finish() {
    await this.write(new Uint8Array(0)); // trailing empty files
    await this.record?.finish();
    return { blob: null, saved: true, entries: this.manifest.entries.map((e) => ({ path: e.path, kind: e.kind, size: e.size })) };
  }

  async abort(error = null) {
    if (this.current) await this.current.sink.abort();
    this.current = null;
    await this.record?.abort(error);
  }
}

/** A download cannot make folders: `photos/2026/a.jpg` is saved as `photos_2026_a.jpg`. */
export function downloadName(path) {
  return safeName(path.split("/").join("_"));
}
