/**
 * The DNS-01 propagation check against a real authoritative server (knotd):
 * zone found by SOA, the zone's NS asked directly, CNAME-followed delegation.
 * Records are written with knotc (the harness's setTxt) so this file tests only the check.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkPropagation,
  type PropagationOptions,
  resolveChallengeRecord,
} from "../../src/acme/solvers/dns01/index.js";
import { type Knot, startKnot } from "./harness/knot.js";

let knot: Knot;
let opts: PropagationOptions;

beforeAll(async () => {
  knot = await startKnot();
  // knotd is the recursive nameserver (it answers for its zones) and, on its port, every zone's authoritative one.
  opts = { recursiveNameservers: [knot.nameserver], authoritativePort: knot.port, queryTimeoutMs: 5_000 };
});

afterAll(async () => {
  await knot?.stop();
});

describe("propagation check against knotd", () => {
  it("finds the zone of a wildcard's challenge record by SOA", async () => {
    await expect(resolveChallengeRecord("*.www.example.test", opts)).resolves.toEqual({
      fqdn: "_acme-challenge.www.example.test.",
      zone: "example.test.",
    });
  });

  it("follows the CNAME into the delegated zone with cnameStrategy Follow", async () => {
    await expect(
      resolveChallengeRecord("alias.example.test", { ...opts, cnameStrategy: "Follow" }),
    ).resolves.toEqual({
      fqdn: "alias.delegated.test.",
      zone: "delegated.test.",
    });
  });

  it("is not propagated before the record exists, propagated once it does, and not again after removal", async () => {
    const record = { fqdn: "_acme-challenge.www.example.test.", value: "propagation-value-1" };
    const before = await checkPropagation(record, opts);
    expect(before).toEqual({ propagated: false, reason: expect.stringContaining("NXDOMAIN") });

    await knot.setTxt(record.fqdn, [record.value]);
    await expect(checkPropagation(record, opts)).resolves.toEqual({ propagated: true });
    await expect(checkPropagation(record, { ...opts, recursiveOnly: true })).resolves.toEqual({
      propagated: true,
    });

    await knot.setTxt(record.fqdn, []);
    const after = await checkPropagation(record, opts);
    expect(after.propagated).toBe(false);
  });
});

describe("the knot harness", () => {
  it("replaces the TXT values at a name with setTxt, a name that had none included", async () => {
    const fqdn = "_acme-challenge.harness.example.test.";
    await knot.setTxt(fqdn, ["a", "b"]);
    expect((await knot.txt(fqdn)).sort()).toEqual(["a", "b"]);
    await knot.setTxt(fqdn, ["c"]);
    expect(await knot.txt(fqdn)).toEqual(["c"]);
    await knot.setTxt(fqdn, []);
    expect(await knot.txt(fqdn)).toEqual([]);
    await knot.setTxt(fqdn, []);
  });
});
