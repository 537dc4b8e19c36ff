import { readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CERTIFICATES, SECRETS } from "../../src/api/types.js";
import { type DecodedSegment, decodeSegment, encodeRecord } from "../../src/store/embedded/lib/journal.js";
import { checkObjectText } from "../../src/store/embedded/lib/objects.js";
import type { CommitRecord } from "../../src/store/memory/memory-store.js";

/*
 * The embedded store reads its journal segments and object files back from a disk that may
 * have been damaged: both parsers take untrusted bytes. A corpus of damaged files (kept in
 * test/store/corpus, each a case that once mattered) with their exact outcome, then bounded
 * property runs: round trips, arbitrary and mutated bytes never throw, damage never turns into
 * a record that was not written, and every byte is accounted for.
 */

const CORPUS = path.resolve(import.meta.dirname, "corpus");
const corpus = (name: string) => readFileSync(path.join(CORPUS, name));

function summary(d: DecodedSegment) {
  return { records: d.records.map((r) => `${r.resourceVersion}:${r.name}:${r.object === null ? "deleted" : "object"}@${r.line}`), bad: d.bad.map((b) => `${b.kind}@line ${b.line}x${b.lines}`) };
}

/** Every byte is in exactly one decoded record line or one bad region, in order. */
function expectCovered(d: DecodedSegment, bytes: Uint8Array): void {
  const spans = [
    ...d.records.map((r) => ({ start: r.offset, end: bytes.indexOf(0x0a, r.offset) + 1 })),
    ...d.bad.map((b) => ({ start: b.offset, end: b.offset + b.bytes })),
  ].sort((a, b) => a.start - b.start);
  let pos = 0;
  for (const s of spans) {
    expect(s.start).toBe(pos);
    expect(s.end).toBeGreaterThan(s.start);
    pos = s.end;
  }
  expect(pos).toBe(bytes.length);
  expect(d.bytes).toBe(bytes.length);
}

describe("the journal decoder on the corpus", () => {
  it.each([
    ["journal-valid.log", { records: ["1:a:object@1", "2:b:object@2", "3:a:deleted@3", "4:c:object@4"], bad: [] }],
    ["journal-torn-tail.log", { records: ["1:a:object@1", "2:b:object@2", "3:a:deleted@3", "4:c:object@4"], bad: ["unterminated@line 5x1"] }],
    ["journal-bitflip-mid.log", { records: ["1:a:object@1", "3:a:deleted@3", "4:c:object@4"], bad: ["checksum@line 2x1"] }],
    ["journal-zeros-tail.log", { records: ["1:a:object@1", "2:b:object@2", "3:a:deleted@3", "4:c:object@4"], bad: ["unterminated@line 5x1"] }],
    ["journal-crlf-and-garbage.log", { records: ["2:b:object@4"], bad: ["checksum@line 1x3", "checksum@line 5x1"] }],
    ["journal-non-utf8.log", { records: ["1:a:object@1", "2:b:object@3"], bad: ["checksum@line 2x1"] }],
  ])("%s decodes to exactly what survives in it", (name, expected) => {
    const bytes = corpus(name);
    const d = decodeSegment(bytes);
    expect(summary(d)).toEqual(expected);
    expectCovered(d, bytes);
  });
});

describe("the object file reader on the corpus", () => {
  it.each([
    ["object-valid.txt", undefined],
    ["object-truncated.txt", /^not JSON: /],
    ["object-other-name.txt", /^metadata\.name is "b", not "a"$/],
    ["object-no-rv.txt", /^no resourceVersion$/],
    ["object-null.txt", /^no metadata$/],
    ["object-proto.txt", undefined],
  ])("%s", (name, problem) => {
    const got = checkObjectText(corpus(name).toString("utf8"), { namespace: "ns", name: "a" });
    if (problem === undefined) expect(typeof got).toBe("object");
    else expect(got).toMatch(problem);
  });
});

const text = fc.string({ unit: "grapheme", maxLength: 24 });
const dnsName = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const records = fc
  .array(fc.record({ name: dnsName, deleted: fc.boolean(), note: text, secret: fc.boolean() }), { minLength: 1, maxLength: 12 })
  .map((rs) =>
    rs.map((r, i): CommitRecord => {
      const type = r.secret ? SECRETS : CERTIFICATES;
      const rv = i + 1;
      return { type, namespace: "ns", name: r.name, resourceVersion: rv, object: r.deleted ? null : ({ apiVersion: "v1", kind: type.kind, metadata: { name: r.name, namespace: "ns", resourceVersion: String(rv), annotations: { note: r.note } } } as never) };
    }),
  );
const encode = (rs: readonly CommitRecord[]) => Buffer.from(rs.map(encodeRecord).join(""), "utf8");

describe("the journal decoder, property-based", () => {
  it("reads back every record written, at its offset and line", () => {
    fc.assert(
      fc.property(records, (rs) => {
        const bytes = encode(rs);
        const d = decodeSegment(bytes);
        expect(d.bad).toEqual([]);
        expect(d.records.map(({ offset: _o, line: _l, ...e }) => ({ ...e, type: { ...e.type } }))).toEqual(rs.map((r) => ({ ...r, type: { ...r.type } })));
        expect(d.records.map((r) => r.line)).toEqual(rs.map((_, i) => i + 1));
        expectCovered(d, bytes);
      }),
      { numRuns: 200 },
    );
  });

  it("never throws on arbitrary bytes and accounts for every one of them", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const d = decodeSegment(bytes);
        expectCovered(d, bytes);
      }),
      { numRuns: 300 },
    );
  });

  it("turns a flipped bit anywhere into one bad record, never a different record, keeping every other", () => {
    fc.assert(
      fc.property(records, fc.nat(), fc.integer({ min: 0, max: 7 }), (rs, at, bit) => {
        const bytes = encode(rs);
        const i = at % bytes.length;
        bytes[i] = (bytes[i] as number) ^ (1 << bit);
        const d = decodeSegment(bytes);
        expectCovered(d, bytes);
        const written = new Set(rs.map((r) => encodeRecord(r)));
        for (const r of d.records) expect(written.has(encodeRecord(r))).toBe(true);
        // A flipped newline can merge two lines (or split one): at most two records are lost.
        expect(d.records.length).toBeGreaterThanOrEqual(rs.length - 2);
        expect(d.bad.length).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it("reads a segment cut at any byte as its whole records plus at most one incomplete one", () => {
    fc.assert(
      fc.property(records, fc.nat(), (rs, at) => {
        const bytes = encode(rs);
        const cut = bytes.subarray(0, at % (bytes.length + 1));
        const d = decodeSegment(cut);
        expectCovered(d, cut);
        expect(d.bad.filter((b) => b.kind === "checksum")).toEqual([]);
        expect(d.bad.length).toBeLessThanOrEqual(1);
        expect(d.records.length).toBe(cut.toString("latin1").split("\n").length - 1);
      }),
      { numRuns: 200 },
    );
  });
});

describe("the object file reader, property-based", () => {
  it("never throws on arbitrary text and accepts only the object its path names", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 3 })), (s) => {
        const got = checkObjectText(s, { namespace: "ns", name: "a" });
        if (typeof got === "object") {
          expect(got.metadata.name).toBe("a");
          expect(got.metadata.namespace).toBe("ns");
        }
      }),
      { numRuns: 300 },
    );
  });
});
