import { X509Certificate } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import type { CaKeyAlgorithm } from "../../src/server/config.js";
import {
  type DataDirPaths,
  dataDirPaths,
  ensureDataDir,
  loadOrCreateAdminToken,
  loadOrCreateRootCa,
} from "../../src/server/data-dir.js";
import { openssl } from "../lib/openssl.js";
import { TempDir } from "../lib/temp-dir.js";

/*
 * The standalone data dir: created once, reused on every start, never
 * regenerated silently, keys 0600 and the folder 0700.
 */

const tmp = new TempDir("meshsign-datadir-");
afterAll(() => tmp.remove());

const TEN_YEARS = 87_600 * 3_600_000;
let n = 0;
function freshPaths(): DataDirPaths {
  n += 1;
  return dataDirPaths(tmp.path(`data-${n}`));
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

async function create(paths: DataDirPaths, algorithm: CaKeyAlgorithm = "ecdsa-p256") {
  ensureDataDir(paths);
  return loadOrCreateRootCa(paths, { algorithm, durationMs: TEN_YEARS, trustDomain: "cluster.local" });
}

/** The ERR_CONFIG_INVALID message `promise` rejects with. */
async function configError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isMeshsignError(err, "ERR_CONFIG_INVALID")) return err.message;
    throw err;
  }
  throw new Error("expected ERR_CONFIG_INVALID");
}

describe("a fresh data dir", () => {
  it("is created 0700 with a root CA whose key is 0600", async () => {
    const paths = freshPaths();
    const root = await create(paths);
    expect(root.created).toBe(true);
    expect(mode(paths.dir)).toBe(0o700);
    expect(mode(paths.rootKey)).toBe(0o600);
    expect(readFileSync(paths.rootCert, "utf8")).toBe(root.certificatePem);
  });

  it.each<{ algorithm: CaKeyAlgorithm; keyType: string }>([
    { algorithm: "ecdsa-p256", keyType: "ec" },
    { algorithm: "ecdsa-p384", keyType: "ec" },
    { algorithm: "ed25519", keyType: "ed25519" },
    { algorithm: "rsa-2048", keyType: "rsa" },
  ])(
    "gets a self-signed $algorithm root CA for the trust domain that openssl accepts",
    async ({ algorithm, keyType }) => {
      const paths = freshPaths();
      await create(paths, algorithm);
      const cert = new X509Certificate(readFileSync(paths.rootCert));
      expect(cert.ca).toBe(true);
      expect(cert.publicKey.asymmetricKeyType).toBe(keyType);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(cert.subjectAltName).toBe("URI:spiffe://cluster.local");
      expect(Date.parse(cert.validTo) - Date.now()).toBeGreaterThan(TEN_YEARS - 86_400_000);
      const r = openssl(["verify", "-CAfile", paths.rootCert, paths.rootCert]);
      expect(r.output).toContain(": OK");
    },
  );
});

describe("an existing data dir", () => {
  it("is reused: the same root, not a new one", async () => {
    const paths = freshPaths();
    const first = await create(paths);
    const again = await create(paths);
    expect(again.created).toBe(false);
    expect(again.certificatePem).toBe(first.certificatePem);
  });

  it("gets a too-open root key and folder tightened back to 0600 and 0700", async () => {
    const paths = freshPaths();
    await create(paths);
    chmodSync(paths.rootKey, 0o644);
    chmodSync(paths.dir, 0o755);
    await create(paths);
    expect(mode(paths.rootKey)).toBe(0o600);
    expect(mode(paths.dir)).toBe(0o700);
  });

  it.each([
    { missing: "root-key.pem", remove: (p: DataDirPaths) => p.rootKey },
    { missing: "root-cert.pem", remove: (p: DataDirPaths) => p.rootCert },
  ])("refuses to start without $missing rather than make a new CA", async ({ missing, remove }) => {
    const paths = freshPaths();
    await create(paths);
    rmSync(remove(paths));
    const message = await configError(create(paths));
    expect(message).toContain(`${missing} is missing`);
    expect(existsSync(remove(paths))).toBe(false);
  });

  it("refuses a root key that does not belong to the root certificate, naming both", async () => {
    const a = freshPaths();
    const b = freshPaths();
    await create(a);
    await create(b);
    copyFileSync(b.rootKey, a.rootKey);
    const message = await configError(create(a));
    expect(message).toBe(`${a.rootKey} does not match ${a.rootCert}`);
  });

  it.each([
    {
      name: "a root certificate that is not PEM",
      file: (p: DataDirPaths) => p.rootCert,
      text: "garbage",
      message: "is not a PEM certificate",
    },
    {
      name: "a root key that is not PEM",
      file: (p: DataDirPaths) => p.rootKey,
      text: "garbage",
      message: "is not a PEM private key",
    },
  ])("refuses $name, naming the file", async ({ file, text, message }) => {
    const paths = freshPaths();
    await create(paths);
    writeFileSync(file(paths), text);
    expect(await configError(create(paths))).toBe(`${file(paths)} ${message}`);
  });

  it("refuses a data dir path that is a file", async () => {
    const paths = freshPaths();
    writeFileSync(paths.dir, "");
    expect(() => ensureDataDir(paths)).toThrow(/is not a directory/);
  });
});

describe("the admin token", () => {
  it("is created once, 0600, long and random, then read back", () => {
    const paths = freshPaths();
    mkdirSync(paths.dir, { mode: 0o700 });
    const token = loadOrCreateAdminToken(paths, true);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mode(paths.adminToken)).toBe(0o600);
    expect(loadOrCreateAdminToken(paths, false)).toBe(token);
    const other = freshPaths();
    mkdirSync(other.dir, { mode: 0o700 });
    expect(loadOrCreateAdminToken(other, true)).not.toBe(token);
  });

  it("tells a CLI user that meshsign is not serving from that data dir", () => {
    const paths = freshPaths();
    expect(() => loadOrCreateAdminToken(paths, false)).toThrow(/is meshsign serving with this --data-dir\?/);
  });

  it("refuses a token file too short to be one", () => {
    const paths = freshPaths();
    mkdirSync(paths.dir);
    writeFileSync(paths.adminToken, "short\n");
    expect(() => loadOrCreateAdminToken(paths, false)).toThrow(/too short to be an admin token/);
  });
});

describe("a data dir that cannot be used", () => {
  it("says a symbolic link points at nothing, and creates nothing", () => {
    const paths = freshPaths();
    const target = tmp.path(`missing-${n}`);
    symlinkSync(target, paths.dir);
    expect(() => ensureDataDir(paths)).toThrow(`data dir ${paths.dir} is a symbolic link to ${target}, which does not exist: create it, or choose another with --data-dir (MESHSIGN_DATA_DIR)`);
    expect(existsSync(target)).toBe(false);
  });

  it("follows a symbolic link to an existing folder", () => {
    const paths = freshPaths();
    const target = tmp.path(`real-${n}`);
    mkdirSync(target);
    symlinkSync(target, paths.dir);
    ensureDataDir(paths);
    expect(mode(target) & 0o777).toBe(0o700);
  });

  it("says a file is in the way", () => {
    const paths = freshPaths();
    writeFileSync(paths.dir, "not a folder");
    expect(() => ensureDataDir(paths)).toThrow(/data dir .* is not a directory; choose another with --data-dir/);
    const under = dataDirPaths(`${paths.dir}/sub`);
    expect(() => ensureDataDir(under)).toThrow(/cannot create data dir .*\/sub: a file is in the way of its path; choose another with --data-dir/);
  });
});
