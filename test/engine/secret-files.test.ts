import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FileSecretSink, type HookResult } from "../../src/engine/secret-files.js";
import { tempDirs } from "../lib/temp-dir.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

describe("FileSecretSink", () => {
  it("publishes tls.crt, tls.key (0600) and ca.crt atomically and runs the hook with the certificate's names", async () => {
    const out = tempDir("meshsign-out-");
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
    const out = tempDir("meshsign-out-");
    const results: HookResult[] = [];
    const sink = new FileSecretSink({ outputDir: out, hook: [process.execPath, "-e", "process.exit(3)"], onHookResult: (r) => results.push(r) });
    await sink.publish({ namespace: "a", secretName: "b", certificateName: "c" }, { "tls.crt": Buffer.from("x") });
    expect(results).toMatchObject([{ ok: false, exitCode: 3 }]);
  });

  it.each([["../etc"], ["a/b"], [".."]])("refuses the unsafe namespace %s", async (ns) => {
    const sink = new FileSecretSink({ outputDir: tempDir("meshsign-out-") });
    await expect(sink.publish({ namespace: ns, secretName: "s", certificateName: "c" }, {})).rejects.toThrow(/unsafe/);
  });
});

describe("FileSecretSink and symbolic links", () => {
  const KEY = { "tls.crt": Buffer.from("CERT"), "tls.key": Buffer.from("KEY") };

  it.each([
    ["the namespace folder", (out: string, elsewhere: string) => symlinkSync(elsewhere, path.join(out, "apps")), "apps"],
    [
      "the Secret's folder",
      (out: string, elsewhere: string) => {
        mkdirSync(path.join(out, "apps"));
        symlinkSync(elsewhere, path.join(out, "apps", "web-tls"));
      },
      "apps/web-tls",
    ],
    [
      "a dangling link where the Secret's folder goes",
      (out: string, elsewhere: string) => {
        mkdirSync(path.join(out, "apps"));
        symlinkSync(path.join(elsewhere, "not-yet"), path.join(out, "apps", "web-tls"));
      },
      "apps/web-tls",
    ],
  ])("refuses to write through a link at %s, naming it, and writes nothing outside the output dir", async (_what, plant, at) => {
    const out = tempDir("meshsign-out-");
    const elsewhere = tempDir("meshsign-elsewhere-");
    plant(out, elsewhere);
    const sink = new FileSecretSink({ outputDir: out });
    await expect(sink.publish({ namespace: "apps", secretName: "web-tls", certificateName: "web" }, KEY)).rejects.toThrow(
      `refusing to write Secret files: ${path.join(out, at)} is a symbolic link; every folder under the output dir ${out} must be a real directory`,
    );
    expect(readdirSync(elsewhere, { recursive: true })).toEqual([]);
  });

  it("replaces a link planted where tls.key goes instead of writing through it", async () => {
    const out = tempDir("meshsign-out-");
    const victim = path.join(tempDir("meshsign-elsewhere-"), "victim");
    writeFileSync(victim, "untouched");
    mkdirSync(path.join(out, "apps", "web-tls"), { recursive: true });
    symlinkSync(victim, path.join(out, "apps", "web-tls", "tls.key"));
    await new FileSecretSink({ outputDir: out }).publish({ namespace: "apps", secretName: "web-tls", certificateName: "web" }, KEY);
    expect(readFileSync(victim, "utf8")).toBe("untouched");
    expect(lstatSync(path.join(out, "apps", "web-tls", "tls.key")).isSymbolicLink()).toBe(false);
    expect(readFileSync(path.join(out, "apps", "web-tls", "tls.key"), "utf8")).toBe("KEY");
  });

  it("removes a Secret's folder without following a linked namespace folder", async () => {
    const out = tempDir("meshsign-out-");
    const elsewhere = tempDir("meshsign-elsewhere-");
    mkdirSync(path.join(elsewhere, "web-tls"));
    writeFileSync(path.join(elsewhere, "web-tls", "keep"), "x");
    symlinkSync(elsewhere, path.join(out, "apps"));
    await expect(new FileSecretSink({ outputDir: out }).remove({ namespace: "apps", secretName: "web-tls", certificateName: "web" })).rejects.toThrow(/is a symbolic link/);
    expect(readFileSync(path.join(elsewhere, "web-tls", "keep"), "utf8")).toBe("x");
  });

  it("accepts an output dir that is itself a link (the operator's choice)", async () => {
    const real = tempDir("meshsign-out-");
    const link = path.join(tempDir("meshsign-link-"), "out");
    symlinkSync(real, link);
    await new FileSecretSink({ outputDir: link }).publish({ namespace: "apps", secretName: "web-tls", certificateName: "web" }, KEY);
    expect(readFileSync(path.join(real, "apps", "web-tls", "tls.key"), "utf8")).toBe("KEY");
  });
});
