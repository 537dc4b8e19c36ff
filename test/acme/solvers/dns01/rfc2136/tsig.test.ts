/**
 * TSIG against published vectors: ISC's TSIG tests (BIND 10 / Kea,
 * `tsig_unittest` and its Python twin) sign a query for www.example.com/A
 * with key `www.example.com` and fixed times, and give the MACs. A wrong
 * MAC input order, canonical form or field width changes every byte.
 */
import { createSecretKey } from "node:crypto";
import * as dnsPacket from "dns-packet";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  signTsig,
  type TsigAlgorithm,
  type TsigKey,
  verifyTsigAnswer,
} from "../../../../../src/acme/solvers/dns01/rfc2136/tsig.js";

function key(name: string, algorithm: TsigAlgorithm, secretB64: string): TsigKey {
  return { name, algorithm, secret: createSecretKey(Buffer.from(secretB64, "base64")) };
}

const MD5_KEY = key("www.example.com", "HMACMD5", "SFuWd/q99SzF8Yzd1QbB9g==");

function query(id: number): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: "www.example.com", type: "A", class: "IN" }],
  });
}

/** The TSIG RR as a server appends it (uncompressed names). */
function tsigRecord(
  keyName: string,
  alg: string,
  time: number,
  mac: Buffer,
  originalId: number,
  error = 0,
  other = Buffer.alloc(0),
): Buffer {
  const name = (n: string) =>
    Buffer.concat([
      ...n
        .replace(/\.$/, "")
        .split(".")
        .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
      Buffer.from([0]),
    ]);
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const t = Buffer.alloc(6);
  t.writeUIntBE(time, 0, 6);
  const rdata = Buffer.concat([
    name(alg),
    t,
    u16(300),
    u16(mac.length),
    mac,
    u16(originalId),
    u16(error),
    u16(other.length),
    other,
  ]);
  return Buffer.concat([name(keyName), u16(250), u16(255), Buffer.alloc(4), u16(rdata.length), rdata]);
}

function withTsig(message: Buffer, rr: Buffer): Buffer {
  const out = Buffer.concat([message, rr]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/** ISC's signed answer: QR|AA|RD, www.example.com 86400 A 192.0.2.1 (name compressed to the question). */
function iscAnswer(): Buffer {
  const header = Buffer.from("2d65850000010001" + "00000000", "hex");
  const question = Buffer.concat([
    Buffer.from("03777777076578616d706c6503636f6d00", "hex"),
    Buffer.from("00010001", "hex"),
  ]);
  const answer = Buffer.from("c00c00010001000151800004c0000201", "hex");
  return Buffer.concat([header, question, answer]);
}

const REQUEST_MAC = Buffer.from("227026ad297beee721ce6c6fff1e9ef3", "hex");
const ANSWER_MAC = Buffer.from("8fcda66a7cd1a3b9948eb1869d384a9f", "hex");

describe("signTsig", () => {
  it("gives ISC's HMAC-MD5 MAC for their query at 0x4da8877a", () => {
    const signed = signTsig(query(0x2d65), MD5_KEY, 0x4da8877a);
    expect(signed.mac.toString("hex")).toBe(REQUEST_MAC.toString("hex"));
    // The TSIG record is appended and counted; dns-packet reads it back as the last additional.
    const decoded = dnsPacket.decode(signed.message);
    expect(decoded.additionals?.map((r) => r.type)).toEqual(["TSIG"]);
  });

  it("gives the same MAC when the key and algorithm names are written in upper case (canonical form)", () => {
    const upper = { ...MD5_KEY, name: "WWW.EXAMPLE.COM." };
    expect(signTsig(query(0x2d65), upper, 0x4da8877a).mac).toEqual(REQUEST_MAC);
  });

  it("gives ISC's HMAC-SHA1 MAC", () => {
    const sha1 = key("www.example.com", "HMACSHA1", "MA+QDhXbyqUak+qnMFyTyEirzng=");
    expect(signTsig(query(0x0967), sha1, 0x4dae7d5f).mac.toString("hex")).toBe(
      "415340c7daf824ed684ee586f7b5a67a2febc0d3",
    );
  });

  it.each([
    ["HMACSHA256", 32],
    ["HMACSHA512", 64],
  ] as const)("signs with %s, a MAC of %i bytes", (algorithm, length) => {
    const k = key("meshsign.", algorithm, "SFuWd/q99SzF8Yzd1QbB9g==");
    expect(signTsig(query(1), k, 0x4da8877a).mac).toHaveLength(length);
  });
});

describe("verifyTsigAnswer", () => {
  const now = 0x4da8877a;
  const signedAnswer = () =>
    withTsig(
      iscAnswer(),
      tsigRecord("www.example.com", "hmac-md5.sig-alg.reg.int", 0x4da8877a, ANSWER_MAC, 0x2d65),
    );

  it("accepts ISC's signed answer to the signed query", () => {
    expect(verifyTsigAnswer(signedAnswer(), MD5_KEY, REQUEST_MAC, now)).toEqual({ ok: true });
  });

  it("rejects the answer when its A record was changed in transit", () => {
    const tampered = signedAnswer();
    const at = iscAnswer().length - 1;
    tampered[at] = (tampered[at] ?? 0) ^ 1; // 192.0.2.1 -> 192.0.2.0
    expect(verifyTsigAnswer(tampered, MD5_KEY, REQUEST_MAC, now)).toMatchObject({
      ok: false,
      kind: "invalid",
    });
  });

  it("rejects the answer when verified against another request's MAC", () => {
    expect(verifyTsigAnswer(signedAnswer(), MD5_KEY, Buffer.alloc(16), now)).toMatchObject({
      ok: false,
      kind: "invalid",
    });
  });

  it("rejects a signature older than the fudge", () => {
    expect(verifyTsigAnswer(signedAnswer(), MD5_KEY, REQUEST_MAC, now + 301)).toEqual({
      ok: false,
      kind: "invalid",
      why: expect.stringContaining("clock skew"),
    });
  });

  it("rejects an answer signed with another key name", () => {
    const other = { ...MD5_KEY, name: "other.example.com." };
    expect(verifyTsigAnswer(signedAnswer(), other, REQUEST_MAC, now)).toMatchObject({
      ok: false,
      kind: "invalid",
      why: expect.stringContaining("key"),
    });
  });

  it("reports an unsigned answer, and BADSIG/BADKEY carried with an empty MAC", () => {
    expect(verifyTsigAnswer(iscAnswer(), MD5_KEY, REQUEST_MAC, now)).toEqual({ ok: false, kind: "unsigned" });
    const badsig = withTsig(
      iscAnswer(),
      tsigRecord("www.example.com", "hmac-md5.sig-alg.reg.int", now, Buffer.alloc(0), 0x2d65, 16),
    );
    expect(verifyTsigAnswer(badsig, MD5_KEY, REQUEST_MAC, now)).toEqual({
      ok: false,
      kind: "unsigned",
      tsigError: "BADSIG",
    });
    const badkey = withTsig(
      iscAnswer(),
      tsigRecord("www.example.com", "hmac-md5.sig-alg.reg.int", now, Buffer.alloc(0), 0x2d65, 17),
    );
    expect(verifyTsigAnswer(badkey, MD5_KEY, REQUEST_MAC, now)).toEqual({
      ok: false,
      kind: "unsigned",
      tsigError: "BADKEY",
    });
  });
});

describe("verifyTsigAnswer on untrusted bytes (property)", () => {
  const now = 0x4da8877a;
  const signed = withTsig(
    iscAnswer(),
    tsigRecord("www.example.com", "hmac-md5.sig-alg.reg.int", now, ANSWER_MAC, 0x2d65),
  );

  function verdict(bytes: Buffer): "ok" | "rejected" | "threw" {
    try {
      return verifyTsigAnswer(bytes, MD5_KEY, REQUEST_MAC, now).ok ? "ok" : "rejected";
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
      return "threw";
    }
  }

  it("never accepts arbitrary bytes, and fails only with an Error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 300 }), (bytes) => {
        expect(verdict(Buffer.from(bytes))).not.toBe("ok");
      }),
    );
  });

  it("never accepts the signed answer with any byte after the ID changed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: iscAnswer().length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, xor) => {
          const changed = Buffer.from(signed);
          changed[at] = (changed[at] ?? 0) ^ xor;
          expect(verdict(changed)).not.toBe("ok");
        },
      ),
    );
  });
});
