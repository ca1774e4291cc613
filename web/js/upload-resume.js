// A sending page that finishes an interrupted upload (S3 fallback) when the same file is
// picked again, as the CLI's `send --resume LINK` does.
//
// When the page starts storing, it notes the transfer in this browser's localStorage
// (`sgraph-send-upload:<room id>`): the link's code, the file's name, size and
// modification time, the sealed manifest record (its transfer id and the file's
// SHA-256) and `first`, the first record stored (the part plan follows from it). A
// successful upload forgets it. After a reload the send view lists what is pending; a
// file picked with the same name, size and modification time is hashed again, and only
// if its SHA-256 is the manifest's does the page go on with the same link, transfer id
// and multipart upload (the relay answers `upload-start` with the parts S3 already
// holds, which are not sent again). Another file with those three alike is refused
// before anything is sent. The note holds the link's secret, as the page's own address
// bar did: it stays in this browser (no request carries it) and lives as long as the
// stored transfer could (7 days).

import { unb64, b64 } from "./bytes.js";
import * as P from "./protocol.js";

const PREFIX = "sgraph-send-upload:";
const KEEP_MS = 7 * 24 * 3600 * 1000;

/** Interrupted uploads noted in this browser, newest first (expired ones dropped). */
export function pendingUploads() {
  const found = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key?.startsWith(PREFIX)) continue;
    let note = null;
    try {
      note = JSON.parse(localStorage.getItem(key));
    } catch {
      // unreadable: dropped below
    }
    if (note && Date.now() - note.started < KEEP_MS) found.push({ ...note, roomId: key.slice(PREFIX.length) });
    else localStorage.removeItem(key);
  }
  return found.sort((a, b) => b.started - a.started);
}

/** The pending upload this file may continue: same name, size and modification time. */
export function uploadFor(file) {
  return pendingUploads().find((n) => n.name === file.name && n.size === file.size && n.lastModified === file.lastModified) || null;
}

/** Note an upload as it starts (again): what a reload needs to finish it. */
export function rememberUpload(sender, first) {
  const { file, keys, source } = sender;
  const note = {
    code: sender.code, name: file.name, size: file.size, lastModified: file.lastModified,
    manifest: b64(source.manifestRecord), first, started: sender.resume?.started ?? Date.now(),
  };
  try {
    localStorage.setItem(PREFIX + keys.roomId, JSON.stringify(note));
  } catch (e) {
    console.info("could not note the upload for a resume:", e.message); // quota, private mode
  }
}

export function forgetUpload(roomId) {
  localStorage.removeItem(PREFIX + roomId);
}

/**
 * The sender's source as the interrupted upload had it (same transfer id and manifest),
 * once the file's SHA-256 (`hashing`) is the manifest's; else a `source-changed` error.
 */
export async function resumeSource(note, keys, hashing) {
  const manifestRecord = unb64(note.manifest);
  const { transferId, json } = await P.openManifestRecord(keys.fileKey, manifestRecord);
  const manifest = P.parseManifest(json);
  if ((await hashing) !== manifest.sha256) {
    throw new P.SendError("source-changed", `This ${note.name} is not the file whose upload was interrupted (its SHA-256 differs), so nothing was sent. Pick the original file, or send this one as a new transfer.`, "not-the-same-file");
  }
  const cipher = await P.RecordCipher.create(keys.fileKey, transferId, manifest.layout);
  return { manifest, layout: manifest.layout, cipher, manifestRecord };
}
