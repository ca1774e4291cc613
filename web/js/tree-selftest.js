// The `tree` vectors (revision 2.1, #15), checked inside the page with the page's code.

import { hex, unhex, utf8 } from "./bytes.js";
import * as P from "./protocol.js";
import { canonicalJson, parseAnyManifest, pathProblem, treeProblem } from "./tree.js";

export async function checkTree(V, keys, transferId, check, same) {
  const T = V.tree;
  if (!T) return;
  await check("tree: manifest JSON and record", async () => {
    const m = parseAnyManifest(utf8.encode(T.manifest_json));
    if (!m.tree || m.entries.length !== 6) return "not read as a tree";
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, m.layout);
    return same(hex(await cipher.sealManifest(utf8.encode(T.manifest_json))), T.manifest_record_hex);
  });
  await check("tree: records of the stream", async () => {
    const m = parseAnyManifest(utf8.encode(T.manifest_json));
    const small = utf8.encode(V.small_file.content_utf8);
    const large = Uint8Array.from({ length: 40000 }, (_, i) => i % 251);
    const stream = new Uint8Array(small.length + large.length);
    stream.set(small);
    stream.set(large, small.length);
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, m.layout);
    const got = [];
    for (let i = 0; i < m.layout.count; i++) got.push(await P.sha256Hex(await cipher.seal(i, stream.subarray(m.layout.offset(i), m.layout.offset(i) + m.layout.length(i)))));
    return same(got.join(","), T.record_sha256.join(","));
  });
  await check("tree: a long list over several manifest records", async () => {
    const entries = [{ kind: "dir", mtime: 1767225600, path: "long" }];
    let size = 0;
    for (let i = 0; i < 60; i++) {
      const data = utf8.encode(`${i}\n`);
      size += data.length;
      entries.push({ kind: "file", mtime: 1767225600, path: `long/file-${String(i).padStart(4, "0")}.txt`, sha256: await P.sha256Hex(data), size: data.length });
    }
    const layout = new P.Layout(size, 16384);
    const json = utf8.encode(canonicalJson({ v: 2, entries, size, record_size: 16384, chunk_count: layout.count, created: "2026-01-01T00:00:00Z" }));
    if (await P.sha256Hex(json) !== T.long_list.manifest_json_sha256) return "manifest JSON differs";
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, layout);
    const records = P.splitManifestRecords(await cipher.sealManifest(json));
    const got = [];
    for (const r of records) got.push(await P.sha256Hex(r));
    if (got.join(",") !== T.long_list.manifest_records_sha256.join(",")) return "manifest records differ";
    const opened = await P.openManifestRecords(keys.fileKey, unhex(records.map(hex).join("")));
    return same(hex(opened.json), hex(json));
  });
  await check("tree: path rules", () => {
    for (const c of T.paths) if (pathProblem(c.path) !== c.reason) return `${JSON.stringify(c.path)}: ${pathProblem(c.path)}, want ${c.reason}`;
    for (const c of T.lists) {
      const got = treeProblem(c.entries.map(([p, k]) => [p, k === "dir"]))?.reason ?? null;
      if (got !== c.reason) return `${JSON.stringify(c.entries)}: ${got}, want ${c.reason}`;
    }
    return true;
  });
}
