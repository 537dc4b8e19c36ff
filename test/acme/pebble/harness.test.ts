import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../lib/ports.js";
import { type Pebble, startPebble } from "../harness.js";
import { pebbleDeadlock } from "../pebble-deadlock.js";

// How the suite and the acme benchmark ask a stalled Pebble why: a request that reads its store,
// then SIGQUIT, whose goroutine dump pebbleDeadlock reads.
describe("Pebble harness", () => {
  let pebble: Pebble | undefined;
  afterEach(async () => {
    await pebble?.stop();
    pebble = undefined;
  });

  it("returns a working Pebble's goroutines, in which no deadlock is found", async () => {
    pebble = await startPebble({ httpPort: await freePort() });
    const dump = await pebble.quitWithGoroutineDump();
    expect(dump).toContain("SIGQUIT");
    expect(dump).toMatch(/^goroutine \d+ .*\[/m);
    expect(dump).toContain("letsencrypt/pebble/v2/");
    expect(pebbleDeadlock(dump)).toBeUndefined();
    // Pebble is gone: a second call has nothing to dump.
    expect(await pebble.quitWithGoroutineDump()).toBe("");
  });

  it("finds nothing wrong with a Pebble that answers, and leaves it running", async () => {
    pebble = await startPebble({ httpPort: await freePort() });
    expect(await pebble.whyStalled()).toBeUndefined();
    expect(await pebble.root()).toContain("BEGIN CERTIFICATE");
  });

  it("says a Pebble that answers nothing stopped answering, without blaming a deadlock it does not have", async () => {
    pebble = await startPebble({ httpPort: await freePort() });
    pebble.pause();
    expect(await pebble.whyStalled()).toBe(
      "Pebble answered nothing in 5 s, and its goroutines show no deadlock of its own",
    );
  });
});
