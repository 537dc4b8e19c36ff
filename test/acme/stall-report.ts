/**
 * The ACME suite's setup file: when a test fails, it asks every running Pebble whether it still
 * answers, and prints why not. Pebble v2.10.3 can deadlock on its own locks under concurrent orders
 * (pebble-deadlock.ts); a test then fails on a timeout that would otherwise look like meshsign's.
 */
import { beforeEach } from "vitest";
import { whyPebblesStalled } from "./harness.js";

beforeEach(({ onTestFailed }) => {
  onTestFailed(async () => {
    for (const why of await whyPebblesStalled()) console.error(`[pebble] ${why}`);
  }, 30_000);
});
