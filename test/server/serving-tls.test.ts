/**
 * The CreateCertificate port's TLS versions, suites and groups
 * (--serving-tls-min-version, --serving-tls-cipher-suites,
 * --serving-tls-curve-preferences, istio-csr's flags): the mapping from Go's
 * names, the checks at start-up, and real handshakes against the port.
 */
import { connect, type ConnectionOptions } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { servingTlsOptions } from "../../src/server/tls/serving-settings.js";
import { configRefusal } from "../lib/config-refusal.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";

/** Whether a TLS handshake with `options` completes against `server`'s port (h2, its roots). */
function handshake(
  server: InProcessServer,
  options: ConnectionOptions,
): Promise<{ ok: boolean; version?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({
      host: "127.0.0.1",
      port: server.port,
      servername: "localhost",
      ca: server.rootsPem,
      ALPNProtocols: ["h2"],
      ...options,
    });
    socket.once("secureConnect", () => {
      resolve({ ok: true, version: socket.getProtocol() ?? "" });
      socket.destroy();
    });
    socket.once("error", (err) => resolve({ ok: false, error: err.message }));
  });
}

describe("serving TLS settings: mapping and checks", () => {
  it("maps Go's suite and curve names to OpenSSL's and keeps TLS 1.3's suites", () => {
    const o = servingTlsOptions({
      servingTlsMinVersion: "VersionTLS12",
      servingTlsCipherSuites: [
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
      ],
      servingTlsCurvePreferences: ["X25519", "CurveP384", "P-384"],
    });
    expect(o.minVersion).toBe("TLSv1.2");
    expect(o.ciphers?.split(":")).toEqual([
      "TLS_AES_256_GCM_SHA384",
      "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_AES_128_GCM_SHA256",
      "ECDHE-ECDSA-AES256-GCM-SHA384",
      "ECDHE-RSA-CHACHA20-POLY1305",
    ]);
    expect(o.ecdhCurve).toBe("X25519:P-384");
    expect(
      servingTlsOptions({
        servingTlsMinVersion: "VersionTLS13",
        servingTlsCipherSuites: [],
        servingTlsCurvePreferences: [],
      }),
    ).toEqual({ minVersion: "TLSv1.3" });
  });

  it.each([
    [{ servingTlsMinVersion: "VersionTLS11" }, "--serving-tls-min-version"],
    [
      { servingTlsCipherSuites: ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"] },
      '"TLS_RSA_WITH_3DES_EDE_CBC_SHA" is not a TLS 1.2 suite meshsign serves',
    ],
    [{ servingTlsCipherSuites: ["TLS_AES_128_GCM_SHA256"] }, "names only TLS 1.3 suites"],
    [{ servingTlsCurvePreferences: ["secp256k1"] }, '"secp256k1" is not a curve meshsign serves'],
  ])("refuses %j at start-up, naming the flag", (flags, message) => {
    expect(configRefusal({ env: {}, flags })).toContain(message);
  });
});

describe("serving TLS settings on the CreateCertificate port", () => {
  let tls13: InProcessServer;
  let narrow: InProcessServer;
  beforeAll(async () => {
    [tls13, narrow] = await Promise.all([
      startInProcessServer({ servingTlsMinVersion: "VersionTLS13" }),
      startInProcessServer({
        servingTlsCipherSuites: ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
        servingTlsCurvePreferences: ["CurveP384"],
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([tls13?.close(), narrow?.close()]);
  });

  it("--serving-tls-min-version=VersionTLS13 refuses a TLS 1.2 client and serves TLS 1.3", async () => {
    expect(await handshake(tls13, { maxVersion: "TLSv1.2" })).toMatchObject({ ok: false });
    expect(await handshake(tls13, {})).toEqual({ ok: true, version: "TLSv1.3" });
  });

  it("serves TLS 1.2 only with the listed suite and group, and TLS 1.3 only with the listed group", async () => {
    // In TLS 1.2 the client's groups must also hold the serving key's curve (P-256).
    const tls12 = { maxVersion: "TLSv1.2" as const, ecdhCurve: "P-384:P-256" };
    expect(await handshake(narrow, { ...tls12, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" })).toMatchObject({
      ok: false,
    });
    expect(await handshake(narrow, { ...tls12, ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384" })).toEqual({
      ok: true,
      version: "TLSv1.2",
    });
    expect(await handshake(narrow, { ecdhCurve: "X25519" })).toMatchObject({ ok: false });
    expect(await handshake(narrow, { ecdhCurve: "P-384" })).toEqual({ ok: true, version: "TLSv1.3" });
  });
});
