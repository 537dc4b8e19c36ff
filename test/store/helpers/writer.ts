// Child process for the crash and lock tests: opens the embedded store in argv[2] and, with
// argv[3] = "write", writes Secrets from 8 concurrent loops, printing "ack <name>" after each
// acknowledged write; with "hold", just holds the store open. Killed with SIGKILL by the test.
import { SECRETS } from "../../../src/api/types.js";
import { openEmbeddedStore } from "../../../src/store/embedded/index.js";

const [dataDir, mode] = process.argv.slice(2);
const store = await openEmbeddedStore({ dataDir: dataDir ?? "", materializeDelayMs: 1, maxJournalBytes: 64 * 1024 });
process.stdout.write("ready\n");
if (mode === "write") {
  const payload = Buffer.alloc(3000, 7).toString("base64");
  const loop = async (w: number) => {
    for (let i = 0; ; i++) {
      const name = `w${w}-${i}`;
      const created = await store.create(SECRETS, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: "crash" }, data: { payload } });
      // also rewrite an existing object, so updates race with crashes too
      await store.update(SECRETS, { ...created, data: { payload, n: Buffer.from(String(i)).toString("base64") } });
      process.stdout.write(`ack ${name}\n`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => loop(w)));
} else {
  setInterval(() => {}, 1000);
}
