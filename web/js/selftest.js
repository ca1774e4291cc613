// The protocol's test vectors (docs/test-vectors.json, served by the page's server as
// test-vectors.json), checked inside the page with the page's own code.

import { equal, hex, unhex, utf8 } from "./bytes.js";
import * as P from "./protocol.js";

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
    await check(`${which}: sha256 (incremental)`, () => {
      const h = P.fileHasher();
      for (let at = 0; at < content.length; at += 7000) h.update(content.subarray(at, at + 7000));
      return same(h.digestHex(), m.sha256);
    });
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
  return { passed: results.filter((r) => r.ok).length, total: results.length, results };
}
