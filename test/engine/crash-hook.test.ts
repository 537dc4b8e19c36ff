import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES, CLUSTER_ISSUERS } from "../../src/api/types.js";
import { CRASH_STEPS, type CrashStep, withCrashHook } from "../../src/engine/crash-hook.js";
import { Engine } from "../../src/engine/engine.js";
import type { SecretSink } from "../../src/engine/secret-files.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { certificate, clusterIssuer } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";

const START = Date.parse("2026-01-01T00:00:00Z");
const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

const nullSink: SecretSink = { publish: async () => {}, remove: async () => {} };

/** Issues apps/web and apps/other once with the hook armed for `spec`, recording what it would have killed after. */
async function issueWith(spec: string): Promise<string[]> {
  const clock = new FakeClock(START);
  const store = new MemoryStore({ now: () => clock.now() });
  await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
  for (const name of ["web", "other"]) await store.create(CERTIFICATES, certificate(name, "apps", { privateKey: { algorithm: "ECDSA", size: 256 } }));
  const kills: string[] = [];
  const hooked = withCrashHook(spec, store, nullSink, (what) => kills.push(what));
  const engine = new Engine({ store: hooked.store, secretSink: hooked.sink, clock, random: fixedRandom(0), events: false });
  engines.push(engine);
  await engine.start();
  await engine.idle();
  // A later pass that writes nothing new (readiness only) must not match again.
  await clock.advance(60_000, () => engine.idle());
  return kills;
}

describe("the crash hook (MESHSIGN_TEST_CRASH_AT)", () => {
  it("is no wrapper at all when the variable is unset or empty", () => {
    const store = new MemoryStore();
    for (const spec of [undefined, ""]) {
      const out = withCrashHook(spec, store, nullSink);
      expect(out.store).toBe(store);
      expect(out.sink).toBe(nullSink);
    }
  });

  it.each(["key-staged", "key-staged:apps", "key-staged:web", "sigkill:apps/web", "key-staged:apps/web extra"])("refuses %j instead of running without the crash asked for", (spec) => {
    try {
      withCrashHook(spec, new MemoryStore(), nullSink);
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
      expect((err as Error).message).toContain(CRASH_STEPS.join(", "));
    }
  });

  it.each(CRASH_STEPS)("fires once after %s of the named Certificate only", async (step: CrashStep) => {
    expect(await issueWith(`${step}:apps/web`)).toEqual([`MESHSIGN_TEST_CRASH_AT: SIGKILL after ${step} of apps/web`]);
  });
});
