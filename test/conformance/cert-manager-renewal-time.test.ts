/**
 * cert-manager's renewal-time tables, translated case by case:
 * pkg/util/pki/renewaltime_test.go (cert-manager/cert-manager).
 * Each case keeps the upstream name, inputs and expected instant. Where meshsign deliberately
 * differs (no ACME ARI, no renewal windows), the case asserts meshsign's behaviour and says why.
 */
import { describe, expect, it } from "vitest";
import { validateResource } from "../../src/api/index.js";
import { goDurationMs } from "../../src/engine/lib/spec.js";
import { renewalTime, renewBeforeWindowMs } from "../../src/engine/renewal.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const SECOND = 1000;
const DAY = 24 * HOUR;
// Upstream uses time.Now().Truncate(time.Second); any whole-second instant does.
const now = Math.floor(Date.parse("2026-12-06T20:30:00Z") / SECOND) * SECOND;

type Scenario = { notBefore: number; notAfter: number; renewBefore?: string; renewBeforePct?: number; expected: number };

describe("renewaltime_test.go TestRenewalTime", () => {
  const tests: [string, Scenario][] = [
    ["short lived cert, spec.renewBefore is not set", { notBefore: now, notAfter: now + 3 * HOUR, expected: now + 2 * HOUR }],
    ["long lived cert, spec.renewBefore is not set", { notBefore: now, notAfter: now + 4380 * HOUR, expected: now + 2920 * HOUR }],
    ["spec.renewBefore is set", { notBefore: now, notAfter: now + 24 * HOUR, renewBefore: "20h", expected: now + 4 * HOUR }],
    ["long lived cert, spec.renewBefore is set to renew every day", { notBefore: now, notAfter: now + 730 * HOUR, renewBefore: "706h", expected: now + 24 * HOUR }],
    ["spec.renewBefore is set, but would result in renewal time after expiry", { notBefore: now, notAfter: now + 24 * HOUR, renewBefore: "25h", expected: now + 16 * HOUR }],
    ["long lived cert, spec.renewBeforePercentage is set to renew 30% before expiry", { notBefore: now, notAfter: now + 730 * HOUR, renewBeforePct: 30, expected: now + 511 * HOUR }],
    // Users setting renewBefore slightly below the duration renew 'continuously'.
    ["spec.renewBefore is set to a value slightly less than cert's duration", { notBefore: now, notAfter: now + 24 * HOUR + 3 * MINUTE, renewBefore: "24h", expected: now + 3 * MINUTE }],
    // Guards the truncation to the second (cert-manager PR 4399).
    ["certificate's duration is skewed by a second", { notBefore: now, notAfter: now + 24 * HOUR - SECOND, expected: now + 16 * HOUR - SECOND }],
  ];
  it.each(tests)("%s", (_name, s) => {
    const got = renewalTime({ notBeforeMs: s.notBefore, notAfterMs: s.notAfter, renewBeforeMs: goDurationMs(s.renewBefore), renewBeforePercentage: s.renewBeforePct });
    expect(got).toBe(s.expected);
  });

  it("certificate passes in ariInfo, gets that as the desired renewal time", () => {
    // meshsign differs: ACME ARI is not implemented, so the suggested window [now+5h, now+6h) is not
    // consulted and the renewBefore rule decides (24h is not below the 24h lifetime: renew at 2/3).
    const got = renewalTime({ notBeforeMs: now, notAfterMs: now + 24 * HOUR, renewBeforeMs: goDurationMs("24h") });
    expect(got).toBe(now + 16 * HOUR);
  });
});

describe("renewaltime_test.go TestRenewBefore", () => {
  const defaultDuration = 3 * HOUR;
  const tests: [string, { duration?: number; renewBefore?: string; renewBeforePct?: number; expected: number }][] = [
    ["spec.renewBefore and spec.renewBeforePercentage are not set", { expected: HOUR }],
    ["spec.renewBeforePercentage is valid", { renewBeforePct: 25, expected: 45 * MINUTE }],
    ["spec.renewBeforePercentage is too large so default is used", { renewBeforePct: 100, expected: HOUR }],
    ["spec.renewBeforePercentage is too small so default is used", { renewBeforePct: 0, expected: HOUR }],
    ["spec.renewBefore is valid", { renewBefore: "1h", expected: HOUR }],
    ["spec.renewBefore is invalid so default is used", { renewBefore: "4h", expected: HOUR }],
    // Upstream regression tests for int64 overflow of duration * pct; 0.99 of 10 and 3 years of 365 days.
    ["spec.renewBeforePercentage=99 with 10-year duration does not overflow int64", { duration: 10 * 365 * DAY, renewBeforePct: 99, expected: 312_206_400_000 }],
    ["spec.renewBeforePercentage=99 with 3-year duration does not overflow int64", { duration: 3 * 365 * DAY, renewBeforePct: 99, expected: 93_661_920_000 }],
  ];
  it.each(tests)("%s", (_name, s) => {
    const d = s.duration ?? defaultDuration;
    const got = renewBeforeWindowMs({ notBeforeMs: 0, notAfterMs: d, renewBeforeMs: goDurationMs(s.renewBefore), renewBeforePercentage: s.renewBeforePct });
    expect(got).toBe(s.expected);
  });
});

/** The validation errors for a Certificate with this `spec.renewal`. */
function renewalErrors(renewal: unknown): { path: string; message: string }[] {
  const r = validateResource({
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "c", namespace: "default" },
    spec: { secretName: "c-tls", issuerRef: { name: "ca" }, commonName: "example.com", renewal },
  });
  return r.ok ? [] : [...r.errors];
}

describe("renewaltime_test.go TestRenewalWithWindowsForRenewBefore", () => {
  // meshsign differs in every case: renewal windows are not implemented, so a Certificate asking for
  // them is refused by validation (and by the engine) rather than renewed outside its windows.
  const w = (cron: string, windowDuration: string, timezone = "UTC") => ({ cron, windowDuration, timezone });
  const tests: [string, unknown[]][] = [
    ["single window, renewal time within window", [w("0 10 * * *", "2h")]],
    ["single window, time outside window", [w("0 10 * * *", "2h")]],
    ["single window, renewal time before the window", [w("0 15 * * *", "2h")]],
    ["multiple windows, weekday and weekend", [w("0 23 * * 1-5", "2h"), w("0 10 * * 6,0", "4h")]],
    ["single window, renewal time within window, different timezone", [w("0 10 * * *", "2h", "America/Phoenix")]],
    ["single window, renewal time in daylight savings (on to off) time zone", [w("0 10 * * *", "2h", "America/Denver")]],
    ["single window, renewal time outside of windows", [w("0 10 * * *", "2h")]],
    ["single window, renewal time within window and with ARI", [w("0 10 * * *", "2h")]],
  ];
  it.each(tests)("%s", (_name, windows) => {
    const errors = renewalErrors({ policy: "RenewBefore", windows });
    expect(errors).toContainEqual({ path: "spec.renewal.windows", message: expect.stringMatching(/not supported/) });
  });
});

describe("renewaltime_test.go TestRenewalWithDisable", () => {
  it("renewal policy Disabled gives no renewal time", () => {
    expect(renewalTime({ notBeforeMs: now, notAfterMs: now + 24 * HOUR, renewBeforeMs: 20 * HOUR, disabled: true })).toBeUndefined();
    expect(renewalErrors({ policy: "Disabled" })).toEqual([]);
  });
});

describe("renewaltime_test.go TestRenewalWindowErrorReturnsFallbackTime", () => {
  // meshsign differs: the broken window never reaches the renewal formula, validation refuses it.
  const tests: [string, Record<string, string>][] = [
    ["invalid cron", { cron: "not a valid cron", windowDuration: "5m" }],
    ["non-positive windowDuration", { cron: "0 10 * * *", windowDuration: "0s" }],
    ["invalid timezone", { timezone: "Not/AZone", cron: "0 10 * * *", windowDuration: "5m" }],
  ];
  it.each(tests)("%s", (_name, window) => {
    expect(renewalErrors({ policy: "RenewBefore", windows: [window] }).map((e) => e.path)).toContain("spec.renewal.windows");
    // The fallback upstream returns with its error is the plain renewBefore time, which meshsign uses.
    const notBefore = now - 10 * DAY;
    const notAfter = now + 10 * DAY;
    expect(renewalTime({ notBeforeMs: notBefore, notAfterMs: notAfter, renewBeforeMs: 5 * DAY })).toBe(notAfter - 5 * DAY);
  });
});

describe("renewaltime_test.go TestRenewalUnsupportedPolicyReturnsFallbackTime", () => {
  it("an unrecognized renewal policy", () => {
    // meshsign differs: validation refuses the unknown policy; the formula, given no Disabled, falls back alike.
    expect(renewalErrors({ policy: "Bogus" }).map((e) => e.path)).toContain("spec.renewal.policy");
    const notAfter = now + 10 * DAY;
    expect(renewalTime({ notBeforeMs: now - 10 * DAY, notAfterMs: notAfter, renewBeforeMs: 5 * DAY })).toBe(notAfter - 5 * DAY);
  });
});
