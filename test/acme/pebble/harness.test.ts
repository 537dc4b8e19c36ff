import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../lib/ports.js";
import { type Pebble, startPebble } from "../harness.js";
import { pebbleDeadlock } from "../pebble-deadlock.js";

// The harness's way to ask a stalled Pebble why (the acme benchmark does when nothing is issued
// for a minute): SIGQUIT, whose goroutine dump pebbleDeadlock reads.
describe("Pebble harness", () => {
  let pebble: Pebble | undefined;
  afterAll(async () => {
    await pebble?.stop();
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
});
