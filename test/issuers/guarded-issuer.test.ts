import { describe, expect, it } from "vitest";
import { isMeshsignError, MeshsignError } from "../../src/errors/index.js";
import { type CircuitState, GuardedIssuer } from "../../src/issuers/guarded-issuer.js";
import type { Issuer, SignRequest, SignResult } from "../../src/issuers/issuer.js";

/*
 * The guard in front of a remote workload issuer: a bounded number of calls
 * in flight, a deadline per call, and a circuit that opens after repeated
 * transient failures and lets one probe through after a while. Time is a
 * frozen clock; no assertion depends on how fast the machine runs.
 */

const REQUEST = { requestId: "r", csrPem: "", template: {} } as unknown as SignRequest;
const ISSUED: SignResult = { status: "issued", chain: ["LEAF"] };

type Behaviour = "ok" | "down" | "refuse" | "hang";

function backend() {
  let behaviour: Behaviour = "ok";
  let calls = 0;
  const hanging: ((r: SignResult) => void)[] = [];
  const signals: AbortSignal[] = [];
  const issuer: Issuer = {
    kind: "vault",
    status: () => ({ ready: true, reason: "VaultVerified", message: "Vault verified" }),
    sign: (_request, signal) => {
      calls++;
      if (signal) signals.push(signal);
      if (behaviour === "ok") return Promise.resolve(ISSUED);
      if (behaviour === "down")
        return Promise.reject(
          new MeshsignError("ERR_ISSUER_UNAVAILABLE", "connection to Vault refused", { retry: "transient" }),
        );
      if (behaviour === "refuse")
        return Promise.reject(
          new MeshsignError("ERR_ISSUER_REJECTED", "URI SAN not allowed", { retry: "terminal" }),
        );
      return new Promise((resolve) => hanging.push(resolve));
    },
  };
  return {
    issuer,
    set: (b: Behaviour) => {
      behaviour = b;
    },
    get calls() {
      return calls;
    },
    hanging,
    signals,
  };
}

async function outcome(p: Promise<SignResult>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return isMeshsignError(err) ? err.code : "other";
  }
}

describe("GuardedIssuer", () => {
  it("opens after the threshold of transient failures in a row and then refuses without calling the backend", async () => {
    const b = backend();
    const states: CircuitState[] = [];
    let now = 1_000;
    const g = new GuardedIssuer(b.issuer, {
      failureThreshold: 3,
      openMs: 2_000,
      now: () => now,
      onStateChange: (s) => states.push(s),
    });
    b.set("down");
    for (let i = 0; i < 3; i++) expect(await outcome(g.sign(REQUEST))).toBe("ERR_ISSUER_UNAVAILABLE");
    expect(g.state).toBe("open");
    expect(b.calls).toBe(3);
    let refused: unknown;
    await g.sign(REQUEST).catch((err: unknown) => {
      refused = err;
    });
    expect(b.calls).toBe(3);
    expect(isMeshsignError(refused, "ERR_ISSUER_UNAVAILABLE")).toBe(true);
    expect((refused as MeshsignError).detail.retryAfterMs).toBe(2_000);
    now += 1_999;
    expect(await outcome(g.sign(REQUEST))).toBe("ERR_ISSUER_UNAVAILABLE");
    expect(b.calls).toBe(3);
    expect(states).toEqual(["open"]);
  });

  it("lets one probe through once open long enough: its failure opens the circuit again, its success closes it", async () => {
    const b = backend();
    const states: CircuitState[] = [];
    let now = 0;
    const g = new GuardedIssuer(b.issuer, {
      failureThreshold: 2,
      openMs: 1_000,
      now: () => now,
      onStateChange: (s) => states.push(s),
    });
    b.set("down");
    await outcome(g.sign(REQUEST));
    await outcome(g.sign(REQUEST));
    now = 1_000;
    expect(await outcome(g.sign(REQUEST))).toBe("ERR_ISSUER_UNAVAILABLE");
    expect(b.calls).toBe(3);
    expect(g.state).toBe("open");
    now = 2_000;
    b.set("ok");
    expect(await outcome(g.sign(REQUEST))).toBe("ok");
    expect(g.state).toBe("closed");
    expect(await outcome(g.sign(REQUEST))).toBe("ok");
    expect(states).toEqual(["open", "half-open", "open", "half-open", "closed"]);
  });

  it("lets only one probe through while half-open; the others are refused at once", async () => {
    const b = backend();
    let now = 0;
    const g = new GuardedIssuer(b.issuer, { failureThreshold: 1, openMs: 10, now: () => now });
    b.set("down");
    await outcome(g.sign(REQUEST));
    now = 10;
    b.set("hang");
    const probe = g.sign(REQUEST);
    expect(await outcome(g.sign(REQUEST))).toBe("ERR_ISSUER_UNAVAILABLE");
    expect(b.calls).toBe(2);
    b.hanging[0]?.(ISSUED);
    expect(await outcome(probe)).toBe("ok");
    expect(g.state).toBe("closed");
  });

  it("does not count the backend's refusals (it answered) as failures", async () => {
    const b = backend();
    const g = new GuardedIssuer(b.issuer, { failureThreshold: 2 });
    b.set("refuse");
    for (let i = 0; i < 5; i++) expect(await outcome(g.sign(REQUEST))).toBe("ERR_ISSUER_REJECTED");
    expect(g.state).toBe("closed");
    expect(b.calls).toBe(5);
  });

  it("refuses calls beyond the in-flight bound at once and admits again when one finishes", async () => {
    const b = backend();
    const refused: string[] = [];
    const g = new GuardedIssuer(b.issuer, { maxInFlight: 2, onRefused: (c) => refused.push(c) });
    b.set("hang");
    const first = g.sign(REQUEST);
    const second = g.sign(REQUEST);
    expect(await outcome(g.sign(REQUEST))).toBe("ERR_ISSUER_UNAVAILABLE");
    expect(refused).toEqual(["in_flight_limit"]);
    expect(g.inFlight).toBe(2);
    b.hanging[0]?.(ISSUED);
    expect(await outcome(first)).toBe("ok");
    b.set("ok");
    expect(await outcome(g.sign(REQUEST))).toBe("ok");
    b.hanging[1]?.(ISSUED);
    expect(await outcome(second)).toBe("ok");
    expect(g.inFlight).toBe(0);
  });

  it("cuts a call off at its deadline, aborts the backend's signal and counts it as a failure", async () => {
    const b = backend();
    const refused: string[] = [];
    const g = new GuardedIssuer(b.issuer, {
      callTimeoutMs: 20,
      failureThreshold: 1,
      onRefused: (c) => refused.push(c),
    });
    b.set("hang");
    let caught: unknown;
    await g.sign(REQUEST).catch((err: unknown) => {
      caught = err;
    });
    expect(isMeshsignError(caught, "ERR_ISSUER_UNAVAILABLE")).toBe(true);
    expect((caught as Error).message).toMatch(/did not answer within 20 ms/);
    expect(b.signals[0]?.aborted).toBe(true);
    expect(refused).toEqual(["deadline"]);
    expect(g.state).toBe("open");
    expect(g.inFlight).toBe(0);
  });
});
