// The protocol's test vectors (docs/test-vectors.json, served by the page's server as
// test-vectors.json), checked inside the page with the page's own code.

import { equal, hex, unhex, utf8 } from "./bytes.js";
import { checkPake } from "./pake-selftest.js";
import * as P from "./protocol.js";
import { maxMessageSize, recordSizeFor, withMaxPacket } from "./peer.js";
import { PartPlan } from "./storage.js";
import { checkTree } from "./tree-selftest.js";

export async function runVectors(url = "test-vectors.json") {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`cannot load the test vectors (${response.status})`);
  const V = await response.json();
  const results = [];
  const check = async (name, fn) => {
    try {
      const ok = await fn();
      results.push({ name, ok: ok === true, detail: ok === true ? "" : String(ok) });
    } catch (e) {
      results.push({ name, ok: false, detail: `${e.name}: ${e.message}` });
    }
  };
  const same = (got, want) => got === want || `got ${got}, want ${want}`;

  const secret = unhex(V.secret_hex);
  const transferId = unhex(V.transfer_id_hex);
  const keys = await P.deriveKeys(secret);
  await check("code", () => same(P.codeOf(secret), V.code));
  await check("link parses", () => equal(P.parseLink(V.link), secret) || "secret differs");
  await check("bad links refused", () => {
    const codes = [["https://x/", "missing-fragment"], [V.code.slice(1), "wrong-length"],
      [V.code.slice(0, 42) + "!", "bad-alphabet"], [V.code.slice(0, 42) + "B", "bad-alphabet"]];
    for (const [text, code] of codes) {
      try {
        P.parseLink(text);
        return `${text} was accepted`;
      } catch (e) {
        if (e.code !== code) return `${text}: ${e.code}, want ${code}`;
      }
    }
    return true;
  });
  await check("room key", () => same(hex(keys.roomKey), V.room_key_hex));
  await check("room id", () => same(keys.roomId, V.room_id));
  await check("connect subprotocols", () => same(JSON.stringify(P.connectSubprotocols(keys.roomKey)), JSON.stringify(V.connect_subprotocols)));
  await check("file key", () => same(hex(keys.fileKey), V.file_key_hex));
  await check("signal key", () => same(hex(keys.signalKey), V.signal_key_hex));
  await check("record key", async () => same(hex(await P.recordKeyOf(keys.fileKey, transferId)), V.record_key_hex));
  await check("key check", async () => same(hex(await P.keyCheckOf(unhex(V.record_key_hex))), V.key_check_hex));

  const files = {
    small: utf8.encode(V.small_file.content_utf8),
    large: Uint8Array.from({ length: 40000 }, (_, i) => i % 251),
  };
  const manifests = { small: JSON.parse(V.small_file.manifest_json), large: JSON.parse(V.large_file.manifest_json) };
  for (const which of ["small", "large"]) {
    const m = manifests[which];
    const content = files[which];
    await check(`${which}: sha256 (Web Crypto)`, async () => same(await P.sha256Hex(content), m.sha256));
    for (const wasm of [true, false]) {
      await check(`${which}: sha256 (incremental, ${wasm ? "the page's" : "JavaScript"})`, async () => {
        const h = await P.fileHasher({ wasm });
        for (let at = 0; at < content.length; at += 7000) h.update(content.subarray(at, at + 7000));
        return same(h.digestHex(), m.sha256);
      });
    }
    const json = P.manifestJson({ name: m.name, size: m.size, media_type: m.media_type, record_size: m.record_size, sha256: m.sha256, created: m.created });
    const wantJson = which === "small" ? V.small_file.manifest_json : V.large_file.manifest_json;
    await check(`${which}: manifest JSON`, () => same(new TextDecoder().decode(json), wantJson));
    const layout = new P.Layout(m.size, m.record_size);
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, layout);
    const manifestRecord = await cipher.sealManifest(json);
    const records = [];
    for (let i = 0; i < layout.count; i++) records.push(await cipher.seal(i, content.subarray(layout.offset(i), layout.offset(i) + layout.length(i))));
    if (which === "small") {
      await check("small: manifest record", () => same(hex(manifestRecord), V.small_file.manifest_record_hex));
      await check("small: record 0", () => same(hex(records[0]), V.small_file.record_0_hex));
    } else {
      await check("large: manifest record", async () => same(await P.sha256Hex(manifestRecord), V.large_file.manifest_record_sha256));
      await check("large: records", async () => {
        const got = await Promise.all(records.map((r) => P.sha256Hex(r)));
        return same(got.join(","), V.large_file.record_sha256.join(","));
      });
    }
    await check(`${which}: records open`, async () => {
      const opened = await P.openManifestRecord(keys.fileKey, manifestRecord);
      const parsed = P.parseManifest(opened.json);
      const back = await P.RecordCipher.create(keys.fileKey, opened.transferId, parsed.layout);
      for (let i = 0; i < records.length; i++) {
        const { index, plaintext } = await back.open(records[i], i);
        if (index !== i || !equal(plaintext, content.subarray(layout.offset(i), layout.offset(i) + layout.length(i)))) return `record ${i} differs`;
      }
      return true;
    });
    await check(`${which}: tampering detected`, async () => {
      const bad = records[0].slice();
      bad[bad.length - 1] ^= 1;
      try {
        await cipher.open(bad);
        return "a flipped bit was accepted";
      } catch (e) {
        return same(e.code, "tampered");
      }
    });
  }
  await check("wrong key detected", async () => {
    const layout = new P.Layout(42, 16384);
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, layout);
    const record = await cipher.sealManifest(utf8.encode(V.small_file.manifest_json));
    try {
      await P.openManifestRecord(keys.signalKey, record);
      return "opened under the wrong key";
    } catch (e) {
      return same(e.code, "wrong-key");
    }
  });
  const env = V.signal_envelope;
  await check("signal envelope MAC", async () => same((await P.signEnvelope(keys.signalKey, env)).mac, env.mac));
  await check("signal envelope verifies", async () => (await P.openEnvelope(keys.signalKey, env, "sender")).data === env.data || "data differs");
  await check("forged envelope refused", async () => {
    try {
      await P.openEnvelope(keys.signalKey, { ...env, data: env.data.replace("AB:CD", "AB:CE") }, "sender");
      return "a forged envelope was accepted";
    } catch (e) {
      return same(e.code, "forged");
    }
  });
  await check("range encoding", () => {
    const cases = [[10, []], [10, [[0, 10]]], [1000, [[0, 500], [502, 600]]], [40, Array.from({ length: 20 }, (_, i) => [2 * i, 2 * i + 1])]];
    for (const [u, ranges] of cases) {
      const back = P.decodeRanges(P.encodeRanges(u, ranges));
      if (JSON.stringify(back.ranges) !== JSON.stringify(ranges) || back.universe !== u) return `round trip of ${JSON.stringify(ranges)}`;
    }
    return same(hex(P.encodeRanges(1000, [[0, 1000]])) + hex(P.encodeRanges(10, [[0, 10]])), "01e8070100e807020aff03");
  });
  await checkSpecGroups(V, keys, transferId, check, same);
  await checkPake(check, same);
  await checkTree(V, keys, transferId, check, same);
  return { passed: results.filter((r) => r.ok).length, total: results.length, results };
}

/** The groups issue #10 §5 added: each failure must give the error protocol.md names. */
async function checkSpecGroups(V, keys, transferId, check, same) {
  const errorOf = async (fn) => {
    try {
      await fn();
      return null;
    } catch (e) {
      if (e.kind === "protocol") return "range";
      if (!e.code) throw e;
      return e.code;
    }
  };
  const all = async (cases, fn) => {
    for (const c of cases) {
      const got = await fn(c);
      if (got !== true) return `${c.case ?? JSON.stringify(c.text)}: ${got}`;
    }
    return true;
  };
  await check("record size choice", () => all(V.record_size_choice, (c) => {
    const m = c.max_message_size;
    const advertised = m === "no peer" ? Infinity : maxMessageSize(m === null ? "v=0\r\n" : `v=0\r\na=max-message-size:${m}\r\n`);
    return same(recordSizeFor(advertised, c.preferred), c.record_size);
  }));
  await check("max packet: writing", () => all(V.max_packet.writing, (c) => same(withMaxPacket(c.sdp, c.size), c.written)));
  await check("ranges: both encodings", () => all(V.ranges, (c) => {
    const back = [P.decodeRanges(unhex(c.ranges_hex)), P.decodeRanges(unhex(c.bitmap_hex))];
    if (back.some((b) => b.universe !== c.universe || JSON.stringify(b.ranges) !== JSON.stringify(c.ranges))) return "decoded differently";
    return same(hex(P.encodeRanges(c.universe, c.ranges)), c.encoded_hex);
  }));
  await check("ranges: failures", () => all(V.failures.ranges, async (c) => {
    const got = await errorOf(() => P.decodeRanges(unhex(c.hex)));
    if (got === null && JSON.stringify(P.decodeRanges(unhex(c.hex)).ranges) !== JSON.stringify(c.ranges)) return "decoded differently";
    return same(got, c.error);
  }));
  await check("links: failures", () => all(V.failures.links, async (c) => {
    const got = await errorOf(() => P.parseLink(c.text));
    if (got === null && hex(P.parseLink(c.text)) !== c.secret_hex) return "another secret";
    return same(got, c.error);
  }));
  const two = JSON.parse(V.failures.transfer.manifest_json);
  const twoCipher = await P.RecordCipher.create(keys.fileKey, transferId, new P.Layout(two.size, two.record_size));
  await check("data records: failures", () => all(V.failures.data_records, async (c) => {
    const got = await errorOf(() => twoCipher.open(unhex(c.record_hex), c.expected_index));
    return same(got, c.error);
  }));
  await check("manifest records: failures", () => all(V.failures.manifest_records, async (c) => {
    const got = await errorOf(async () => P.parseManifest((await P.openManifestRecord(keys.fileKey, unhex(c.record_hex))).json));
    return same(got, c.error);
  }));
  await check("manifests: failures", () => all(V.failures.manifests, async (c) => {
    return same(await errorOf(() => P.parseManifest(utf8.encode(c.json))), c.error);
  }));
  await check("transfers: failures", () => all(V.failures.transfers, async (c) => {
    const got = await errorOf(async () => {
      const opened = await P.openManifestRecord(keys.fileKey, unhex(c.manifest_record_hex));
      const m = P.parseManifest(opened.json);
      const cipher = await P.RecordCipher.create(keys.fileKey, opened.transferId, m.layout);
      const held = new Map();
      for (const r of c.records_hex) {
        const { index, plaintext } = await cipher.open(unhex(r));
        held.set(index, plaintext);
      }
      if (held.size < m.layout.count) throw new P.SendError("verification", "records are missing", "truncated");
      const whole = new Uint8Array(m.size);
      for (const [index, plaintext] of held) whole.set(plaintext, m.layout.offset(index));
      if (await P.sha256Hex(whole) !== m.sha256) throw new P.SendError("verification", "the file differs", "hash-mismatch");
    });
    return same(got, c.error);
  }));
  await check("empty file", async () => {
    const m = JSON.parse(V.empty_file.manifest_json);
    const json = P.manifestJson({ name: m.name, size: m.size, media_type: m.media_type, record_size: m.record_size, sha256: await P.sha256Hex(new Uint8Array(0)), created: m.created });
    if (new TextDecoder().decode(json) !== V.empty_file.manifest_json) return "manifest JSON differs";
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, new P.Layout(0, m.record_size));
    if (hex(await cipher.sealManifest(json)) !== V.empty_file.manifest_record_hex) return "manifest record differs";
    const record = await cipher.seal(0, new Uint8Array(0));
    if ((await cipher.open(record, 0)).plaintext.length !== 0) return "opened to bytes";
    return same(hex(record), V.empty_file.records_hex[0]);
  });
  await check("64 KiB records", async () => {
    const m = JSON.parse(V.record_size_64k.manifest_json);
    const content = Uint8Array.from({ length: m.size }, (_, i) => i % 251);
    const layout = new P.Layout(m.size, m.record_size);
    const cipher = await P.RecordCipher.create(keys.fileKey, transferId, layout);
    const json = P.manifestJson({ name: m.name, size: m.size, media_type: m.media_type, record_size: m.record_size, sha256: await P.sha256Hex(content), created: m.created });
    if (await P.sha256Hex(await cipher.sealManifest(json)) !== V.record_size_64k.manifest_record_sha256) return "manifest record differs";
    const got = [];
    for (let i = 0; i < layout.count; i++) got.push(await P.sha256Hex(await cipher.seal(i, content.subarray(layout.offset(i), layout.offset(i) + layout.length(i)))));
    return same(got.join(","), V.record_size_64k.record_sha256.join(","));
  });
  await check("stored layout: part plans", () => all(V.stored_layout.part_plans, (c) => {
    const plan = new PartPlan(new P.Layout(c.size, c.record_size), c.first);
    const parts = c.part_records.map(([p]) => [p, ...plan.partRecords(p)]);
    return same(JSON.stringify([plan.objectBytes, plan.recordsPerPart, plan.parts, parts]),
      JSON.stringify([c.object_bytes, c.records_per_part, c.parts, c.part_records]));
  }));
}
