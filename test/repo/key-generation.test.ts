import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  generateKeySync,
  generatePrivateKeyObject,
  generatePrivateKeyObjectSync,
} from "../../src/pki/keys.js";

/**
 * meshsign generates keys only through src/pki/keys.ts, which hands out a KeyObject that does not
 * share its lock with node:crypto's generation job (in Node.js 20 a garbage collection freeing the
 * job inside a KeyObject call that holds that lock hangs the thread for good; see AS_JWK there).
 */
const SRC = path.resolve(import.meta.dirname, "../../src");
const ALLOWED = "pki/keys.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [path.join(dir, e.name)]
        : [],
  );
}

describe("key generation", () => {
  it("goes through src/pki/keys.ts everywhere in src", () => {
    const offenders = sources(SRC)
      .filter((f) => path.relative(SRC, f) !== ALLOWED)
      .filter((f) => /\bgenerateKeyPair(Sync)?\b|subtle\.generateKey\b/.test(readFileSync(f, "utf8")))
      .map((f) => path.relative(SRC, f));
    expect(offenders).toEqual([]);
  });

  it("returns private KeyObjects that work as generated ones do", async () => {
    const ec = generatePrivateKeyObjectSync("ec", { namedCurve: "P-256" });
    expect(ec.type).toBe("private");
    expect(ec.asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    const rsa = await generatePrivateKeyObject("rsa", { modulusLength: 2048 });
    expect(rsa.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(generatePrivateKeyObjectSync("ed25519", {}).asymmetricKeyType).toBe("ed25519");
    expect(generateKeySync({ type: "ec", curve: "P-384" }).asymmetricKeyDetails).toEqual({
      namedCurve: "secp384r1",
    });
  });
});
