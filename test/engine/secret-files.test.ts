import { mkdtempSync, readFileSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FileSecretSink, type HookResult } from "../../src/engine/secret-files.js";

describe("FileSecretSink", () => {
  it("publishes tls.crt, tls.key (0600) and ca.crt atomically and runs the hook with the certificate's names", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "meshsign-out-"));
    const marker = path.join(out, "hook.txt");
    const results: HookResult[] = [];
    const sink = new FileSecretSink({
      outputDir: out,
      hook: [process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, process.env.MESHSIGN_CERTIFICATE_NAMESPACE + "/" + process.env.MESHSIGN_CERTIFICATE_NAME)`],
      onHookResult: (r) => results.push(r),
    });
    const ref = { namespace: "apps", secretName: "web-tls", certificateName: "web" };
    await sink.publish(ref, { "tls.crt": Buffer.from("CERT"), "tls.key": Buffer.from("KEY"), "ca.crt": Buffer.from("CA"), other: Buffer.from("x") });
    const dir = path.join(out, "apps", "web-tls");
    expect(readFileSync(path.join(dir, "tls.crt"), "utf8")).toBe("CERT");
    expect(statSync(path.join(dir, "tls.key")).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(dir, "other"))).toBe(false);
    expect(readFileSync(marker, "utf8")).toBe("apps/web");
    expect(results).toMatchObject([{ ok: true, exitCode: 0 }]);
    // A later publish without a CA removes the stale ca.crt.
    await sink.publish(ref, { "tls.crt": Buffer.from("CERT2"), "tls.key": Buffer.from("KEY2") });
    expect(existsSync(path.join(dir, "ca.crt"))).toBe(false);
  });

  it("reports a failing hook without throwing", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "meshsign-out-"));
    const results: HookResult[] = [];
    const sink = new FileSecretSink({ outputDir: out, hook: [process.execPath, "-e", "process.exit(3)"], onHookResult: (r) => results.push(r) });
    await sink.publish({ namespace: "a", secretName: "b", certificateName: "c" }, { "tls.crt": Buffer.from("x") });
    expect(results).toMatchObject([{ ok: false, exitCode: 3 }]);
  });

  it.each([["../etc"], ["a/b"], [".."]])("refuses the unsafe namespace %s", async (ns) => {
    const sink = new FileSecretSink({ outputDir: mkdtempSync(path.join(tmpdir(), "meshsign-out-")) });
    await expect(sink.publish({ namespace: ns, secretName: "s", certificateName: "c" }, {})).rejects.toThrow(/unsafe/);
  });
});
