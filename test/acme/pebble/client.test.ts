import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AcmeClient,
  finalizeOrder,
  type AcmeRequestObservation,
  verifyIssued,
  acceptChallenge,
  getAuthorization,
  keyAuthorization,
  waitAuthorization,
  ariCertId,
  findAccount,
  getOrder,
  getRenewalInfo,
  type Http01Solver,
  createHttp01Solver,
  newOrder,
  problemOf,
  registerAccount,
  updateAccountEmail,
  waitOrder,
} from "../../../src/acme/index.js";
import { isMeshsignError, type MeshsignError } from "../../../src/errors/index.js";
import { buildCsrDer, decodePemAll, generateKeySync, publicKeySpki } from "../../../src/pki/index.js";
import { opensslVerify } from "../../lib/openssl.js";
import { freePort } from "../../lib/ports.js";
import {
  DEFAULT_PROFILE_SECONDS,
  type Pebble,
  SHORTLIVED_SECONDS,
  startPebble,
} from "../harness.js";
import { challenges, issue, lookupChallenge, solveAuthorizations, verifiesWithNodeCrypto } from "./flow.js";

let pebble: Pebble;
let solver: Http01Solver;
let solverPort: number;
let root0: string;
let root1: string;
let client: AcmeClient;
let badNonceRetries = 0;

const clients: AcmeClient[] = [];
async function connect(key = generateKeySync({ type: "ec", curve: "P-256" })): Promise<AcmeClient> {
  const c = await AcmeClient.connect({
    directoryUrl: pebble.directoryUrl,
    accountKey: key,
    caBundle: pebble.tlsCaPem,
  });
  clients.push(c);
  return c;
}

function commonNameOf(pem: string): string {
  return /CN=([^\n,]+)/.exec(new X509Certificate(pem).subject)?.[1] ?? "";
}

beforeAll(async () => {
  solverPort = await freePort();
  solver = createHttp01Solver({ lookup: lookupChallenge });
  await solver.listen(solverPort, "127.0.0.1");
  pebble = await startPebble({ httpPort: solverPort });
  root0 = await pebble.root(0);
  root1 = await pebble.root(1);
  client = await connect();
  await registerAccount(client, { email: "Ops@Example.com" });
});

afterAll(async () => {
  await solver?.close();
  await pebble?.stop();
});

describe("ACME client against Pebble", () => {
  it("reads the directory: every resource URL, profiles and ARI", () => {
    const d = client.directory;
    expect(d.newNonce).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
    expect(d.newAccount).toMatch(/^https:/);
    expect(d.newOrder).toMatch(/^https:/);
    expect(d.renewalInfo).toMatch(/renewalInfo/);
    expect(Object.keys(d.meta.profiles).sort()).toEqual(["default", "shortlived"]);
    expect(d.meta.externalAccountRequired).toBe(false);
  });

  it("registers an account with a lower-cased mailto contact, finds it by key, and updates its email", async () => {
    const key = generateKeySync({ type: "ec", curve: "P-256" });
    const a = await connect(key);
    const account = await registerAccount(a, { email: "Admin@Example.COM" });
    expect(account.status).toBe("valid");
    expect(account.contact).toEqual(["mailto:admin@example.com"]);

    // A second client with the same key and no account URL (a restart) finds the same account.
    const b = await connect(key);
    expect(b.accountUrl).toBeUndefined();
    const found = await findAccount(b);
    expect(found?.url).toBe(account.url);
    // Registering again is idempotent: the existing account comes back.
    expect((await registerAccount(b, { email: "admin@example.com" })).url).toBe(account.url);

    const updated = await updateAccountEmail(b, "new-owner@example.com");
    expect(updated.contact).toEqual(["mailto:new-owner@example.com"]);
  });

  it("finds no account for a key that never registered", async () => {
    expect(await findAccount(await connect())).toBeUndefined();
  });

  it("registers with an RSA-2048 account key (RS256, cert-manager's generated default)", async () => {
    const rsa = await connect(generateKeySync({ type: "rsa", bits: 2048 }));
    expect((await registerAccount(rsa)).status).toBe("valid");
  });

  it("issues a certificate for two DNS names through HTTP-01 served by the solver listener", async () => {
    const names = ["app.example.com", "www.app.example.com"];
    const issued = await issue(client, names, { solverPort, roots: [root0, root1] });
    expect(issued.order.status).toBe("valid");
    const leaf = issued.checked.leaf;
    expect([...leaf.dnsNames].sort()).toEqual(names);
    expect(leaf.basicConstraints?.isCA).not.toBe(true);
    // Independent checks of the chain: node:crypto signatures and openssl verify against Pebble's root.
    expect(verifiesWithNodeCrypto(issued.chain.pem, root0)).toBe(true);
    const [leafPem, ...rest] = issued.chain.pem
      .split(/(?<=-----END CERTIFICATE-----)\s*/)
      .filter((p) => p.includes("BEGIN"));
    const ossl = opensslVerify(root0, leafPem as string, rest);
    expect(ossl.ok, ossl.output).toBe(true);
    // The leaf carries the CSR's key (verifyIssued checked it too; this is node:crypto's view).
    const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
    expect(
      spki(new X509Certificate(leafPem as string).publicKey).equals(spki(createPublicKey(issued.leafKey))),
    ).toBe(true);
    // No profile requested: Pebble picks one at random; the validity is that profile's.
    const lifetime = (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 1000;
    const expected = issued.order.profile === "shortlived" ? SHORTLIVED_SECONDS : DEFAULT_PROFILE_SECONDS;
    expect(Math.abs(lifetime - expected)).toBeLessThan(120);
  });

  it("finalizes safely twice: a repeat after the CA's answer was lost reads the order through, never a second CSR", async () => {
    const order = await newOrder(client, { identifiers: [{ type: "dns", value: "twice.example.com" }] });
    await solveAuthorizations(client, order, solverPort);
    const ready = await waitOrder(client, order.url, ["ready"], Date.now() + 30_000);
    const key = generateKeySync({ type: "ec", curve: "P-256" });
    const csr = buildCsrDer(key, { subject: [], dnsNames: ["twice.example.com"] });
    const first = await finalizeOrder(client, ready, csr, Date.now() + 30_000);
    expect(first.status).toBe("valid");
    // The stale "ready" copy (as a crash before the answer was stored would leave it): Pebble says orderNotReady.
    const again = await finalizeOrder(client, ready, csr, Date.now() + 30_000);
    expect(again.certificate).toBe(first.certificate);
    // The stored "valid" copy: nothing is sent.
    const before = client.stats.requests;
    expect((await finalizeOrder(client, first, csr, Date.now() + 30_000)).certificate).toBe(
      first.certificate,
    );
    expect(client.stats.requests).toBe(before);
  });

  it("refuses what the CA returned when it does not match the order: another key, other names, an untrusted root", async () => {
    const issued = await issue(client, ["check.example.com"], { solverPort, roots: [root0] });
    const base = {
      chainPem: issued.chain.pem,
      csrPublicKeySpki: publicKeySpki(issued.leafKey),
      identifiers: [{ type: "dns" as const, value: "check.example.com" }],
      at: new Date(),
      roots: decodePemAll(root0, "CERTIFICATE"),
    };
    expect(verifyIssued(base).leaf.dnsNames).toEqual(["check.example.com"]);
    const otherKey = publicKeySpki(generateKeySync({ type: "ec", curve: "P-256" }));
    expect(() => verifyIssued({ ...base, csrPublicKeySpki: otherKey })).toThrow(
      /public key is not the CSR's/,
    );
    expect(() =>
      verifyIssued({
        ...base,
        identifiers: [...base.identifiers, { type: "dns", value: "more.example.com" }],
      }),
    ).toThrow(/names differ/);
    expect(() => verifyIssued({ ...base, roots: decodePemAll(root1, "CERTIFICATE") })).toThrow(
      /does not verify to the trusted roots/,
    );
    expect(() => verifyIssued({ ...base, at: new Date(Date.now() + 400 * 86_400_000) })).toThrow(
      /not valid now/,
    );
  });

  it("reports every request to the metrics hook with cert-manager's labels", async () => {
    const seen: AcmeRequestObservation[] = [];
    const c = await AcmeClient.connect({
      directoryUrl: pebble.directoryUrl,
      accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
      caBundle: pebble.tlsCaPem,
      observe: (o) => seen.push(o),
    });
    await registerAccount(c);
    const url = new URL(pebble.directoryUrl);
    expect(seen.map((o) => `${o.method} ${o.path}`)).toContain("GET /dir");
    expect(seen.some((o) => o.method === "POST" && o.status === "201")).toBe(true);
    for (const o of seen) {
      expect(o.scheme).toBe("https");
      expect(o.host).toBe(url.host);
      expect(o.durationSeconds).toBeGreaterThanOrEqual(0);
    }
  });

  it("refuses to trust Pebble's TLS certificate without its CA bundle", async () => {
    const err = await AcmeClient.connect({
      directoryUrl: pebble.directoryUrl,
      accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
    }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_UNAVAILABLE")).toBe(true);
    const skip = await AcmeClient.connect({
      directoryUrl: pebble.directoryUrl,
      accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
      skipTLSVerify: true,
    });
    expect(skip.directory.newOrder).toMatch(/^https:/);
  });

  it("picks Pebble's alternate chain when preferredChain names the alternate root, the default otherwise", async () => {
    const alternateCn = commonNameOf(root1);
    const defaultCn = commonNameOf(root0);
    expect(alternateCn).not.toBe(defaultCn);
    const preferred = await issue(client, ["chain.example.com"], {
      solverPort,
      roots: [root1],
      preferredChain: alternateCn,
    });
    expect(preferred.chain.alternates).toBeGreaterThanOrEqual(1);
    expect(verifiesWithNodeCrypto(preferred.chain.pem, root1)).toBe(true);
    expect(verifiesWithNodeCrypto(preferred.chain.pem, root0)).toBe(false);

    const unknown = await issue(client, ["chain2.example.com"], {
      solverPort,
      roots: [root0],
      preferredChain: "No Such Root CA",
    });
    expect(verifiesWithNodeCrypto(unknown.chain.pem, root0)).toBe(true);
  });

  it("sends a profile and Pebble honours it: shortlived changes the validity", async () => {
    const issued = await issue(client, ["short.example.com"], {
      solverPort,
      roots: [root0],
      profile: "shortlived",
    });
    expect(issued.order.profile).toBe("shortlived");
    const leaf = issued.checked.leaf;
    const lifetime = (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 1000;
    expect(Math.abs(lifetime - SHORTLIVED_SECONDS)).toBeLessThan(120);
  });

  it("refuses a profile the directory does not offer before creating any order", async () => {
    const err = await newOrder(client, {
      identifiers: [{ type: "dns", value: "p.example.com" }],
      profile: "no-such-profile",
    }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
    expect((err as MeshsignError).message).toContain("default, shortlived");
  });

  it("fetches ARI renewalInfo for the issued certificate and renews it with replaces", async () => {
    const first = await issue(client, ["ari.example.com"], { solverPort, roots: [root0] });
    const info = await getRenewalInfo(client, first.leafDer);
    const { notBefore, notAfter } = first.checked.leaf;
    expect(info.suggestedWindow.start.getTime()).toBeLessThan(info.suggestedWindow.end.getTime());
    expect(info.suggestedWindow.start.getTime()).toBeGreaterThan(notBefore.getTime());
    expect(info.suggestedWindow.end.getTime()).toBeLessThanOrEqual(notAfter.getTime());

    const certId = ariCertId(first.leafDer);
    const renewed = await issue(client, ["ari.example.com"], {
      solverPort,
      roots: [root0],
      replaces: certId,
    });
    expect(renewed.order.replaces).toBe(certId);
    // A certificate can be replaced once: the CA refuses a second order replacing it, with its problem.
    const again = await newOrder(client, {
      identifiers: [{ type: "dns", value: "ari.example.com" }],
      replaces: certId,
    }).catch((e: unknown) => e);
    expect(isMeshsignError(again, "ERR_ACME_PROBLEM")).toBe(true);
    expect(problemOf(again)?.type).toMatch(/^urn:ietf:params:acme:error:/);
  });

  it("fails a challenge the CA cannot reach with the CA's problem detail, and the order turns invalid", async () => {
    // 127.0.0.2 is loopback, but the solver listens on 127.0.0.1 only: the VA's connection is refused.
    await pebble.addARecord("unreachable.example.com", "127.0.0.2");
    const order = await newOrder(client, {
      identifiers: [{ type: "dns", value: "unreachable.example.com" }],
    });
    const err = await solveAuthorizationsWithoutSelfCheck(order).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_ORDER_INVALID")).toBe(true);
    const message = (err as MeshsignError).message;
    expect(message).toContain("unreachable.example.com");
    expect(message).toContain("127.0.0.2");
    expect(problemOf(err)?.type).toBe("urn:ietf:params:acme:error:connection");
    const final = await waitOrder(client, order.url, ["invalid"], Date.now() + 10_000);
    expect(final.status).toBe("invalid");
    expect((await getOrder(client, order.url)).error?.type).toMatch(/acme:error/);
  });

  it("passes Pebble's 5% bad nonces without an error: 200 signed requests, every badNonce retried", async () => {
    const c = await connect();
    await registerAccount(c);
    const order = await newOrder(c, { identifiers: [{ type: "dns", value: "nonce.example.com" }] });
    for (let i = 0; i < 200; i++) await getOrder(c, order.url);
    expect(c.stats.requests).toBeGreaterThanOrEqual(202);
    // 0.95^200 < 1e-4: Pebble rejected some; each was retried and none surfaced.
    expect(c.stats.badNonceRetries).toBeGreaterThan(0);
    for (const x of clients) badNonceRetries += x.stats.badNonceRetries;
    expect(badNonceRetries).toBeGreaterThanOrEqual(c.stats.badNonceRetries);
  });
});

/** Accepts the HTTP-01 challenge without the self-check (which would catch the unreachable address first). */
async function solveAuthorizationsWithoutSelfCheck(
  order: Awaited<ReturnType<typeof newOrder>>,
): Promise<void> {
  for (const url of order.authorizations) {
    const authz = await getAuthorization(client, url);
    const challenge = authz.challenges.find((c) => c.type === "http-01");
    if (challenge?.token === undefined) throw new Error("no http-01 challenge");
    challenges.set(challenge.token, {
      dnsName: authz.identifier.value,
      keyAuthorization: await keyAuthorization(challenge.token, client.accountKey),
    });
    await acceptChallenge(client, challenge);
    await waitAuthorization(client, url, Date.now() + 30_000);
  }
}
