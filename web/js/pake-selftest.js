// The spoken-code exchange's vectors, checked with the page's own pake.js (selftest.js
// calls this): the CPace draft's ristretto255/SHA-512 vectors, then ours.

import { hex, unhex } from "./bytes.js";
import { codeOf } from "./protocol.js";
import * as K from "./pake.js";
import { CODE, DRAFT } from "./pake-vectors.js";

export async function checkPake(check, same) {
  const d = (name) => unhex(DRAFT[name]);
  const g = K.calculateGenerator(d("PRS"), d("CI"), d("sid"));
  await check("CPace draft: generator", () => same(hex(g), DRAFT.g));
  await check("CPace draft: Ya, Yb", () => same(hex(K.scalarMultVfy(d("ya"), g)) + hex(K.scalarMultVfy(d("yb"), g)), DRAFT.Ya + DRAFT.Yb));
  await check("CPace draft: K", () => same(hex(K.scalarMultVfy(d("ya"), d("Yb"))), DRAFT.K));
  await check("CPace draft: ISK", () => same(hex(K.isk(d("ya"), d("Yb"), d("sid"), K.transcriptIr(d("Ya"), d("ADa"), d("Yb"), d("ADb")))), DRAFT.ISK_IR));
  await check("CPace: identity refused", () => K.scalarMultVfy(d("ya"), new Uint8Array(32)) === null || "accepted");
  const pinned = (h) => () => unhex(h);
  const code = K.parseCode(CODE.code);
  await check("spoken code: generator", () => same(hex(K.calculateGenerator(new TextEncoder().encode(CODE.password), K.channelIdentifier(code.nameplate), new Uint8Array(0))), CODE.generator_hex));
  await check("spoken code: exchange", async () => {
    const r = new K.CodeHandshake("receiver", code, pinned(CODE.scalar_receiver_hex));
    const s = new K.CodeHandshake("sender", code, pinned(CODE.scalar_sender_hex));
    const m1 = r.start();
    const m2 = await s.answer(m1);
    const m3 = await r.finish(m2);
    const secret = await s.verify(m3);
    return same(JSON.stringify([m1, m2, m3]) + codeOf(secret), JSON.stringify(CODE.messages) + CODE.secret_code);
  });
}
