import { describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { computeValidity } from "../../src/pki/duration.js";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const H = 3600_000;

describe("computeValidity", () => {
  const cases = [
    { name: "a request of 0 gets the 24h default", req: 0, policy: {}, hours: 24 },
    { name: "a negative request gets the default", req: -5, policy: {}, hours: 24 },
    { name: "negative infinity gets the default", req: Number.NEGATIVE_INFINITY, policy: {}, hours: 24 },
    { name: "a request under the max is honoured", req: 1800, policy: { maxMs: 2 * H }, hours: 0.5 },
    {
      name: "a request over the max is clamped (istio-csr), not refused",
      req: 3600,
      policy: { maxMs: 0.5 * H },
      hours: 0.5,
    },
    { name: "an absurd request is clamped", req: 1e300, policy: {}, hours: 24 },
    { name: "an int64 bigint beyond 2^53 is clamped", req: 2n ** 62n, policy: {}, hours: 24 },
    { name: "a negative bigint gets the default", req: -(2n ** 62n), policy: {}, hours: 24 },
    {
      name: "a configured default applies to <= 0",
      req: 0,
      policy: { defaultMs: 12 * H, maxMs: 48 * H },
      hours: 12,
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => {
      const v = computeValidity(c.req, NOW, undefined, c.policy);
      expect(v.notAfter.getTime() - NOW.getTime()).toBe(c.hours * H);
      expect(v.clampedToCa).toBe(false);
    });
  }

  it("notBefore is back-dated by 2 minutes by default and by the configured amount otherwise", () => {
    expect(computeValidity(3600, NOW).notBefore.toISOString()).toBe("2026-03-01T11:58:00.000Z");
    expect(computeValidity(3600, NOW, undefined, { backdateMs: 5 * 60_000 }).notBefore.toISOString()).toBe(
      "2026-03-01T11:55:00.000Z",
    );
  });

  it("notAfter never passes the CA's notAfter", () => {
    const ca = new Date(NOW.getTime() + 2 * H);
    const v = computeValidity(86400, NOW, ca);
    expect(v.notAfter).toEqual(ca);
    expect(v.clampedToCa).toBe(true);
  });

  it("a CA that has expired refuses to issue with a transient ERR_ISSUER_NOT_READY", () => {
    try {
      computeValidity(3600, NOW, new Date(NOW.getTime() - 1));
      expect.fail("expected an error");
    } catch (err) {
      expect(isMeshsignError(err, "ERR_ISSUER_NOT_READY")).toBe(true);
      expect((err as { retry: string }).retry).toBe("transient");
    }
  });

  it("NaN is refused with ERR_DURATION_INVALID", () => {
    expect(() => computeValidity(Number.NaN, NOW)).toThrow(
      expect.objectContaining({ code: "ERR_DURATION_INVALID" }),
    );
  });

  it("fractions of a second in the end time are dropped", () => {
    const v = computeValidity(1.5, new Date("2026-03-01T12:00:00.700Z"));
    expect(v.notAfter.toISOString()).toBe("2026-03-01T12:00:02.000Z");
  });
});
