/**
 * The TLS settings of the CreateCertificate port, from istio-csr's flags
 * (`--serving-tls-min-version`, `--serving-tls-cipher-suites`,
 * `--serving-tls-curve-preferences`), which name versions, suites and curves
 * as Go's crypto/tls and Kubernetes' component-base do. They are mapped here
 * to what Node's TLS (OpenSSL) takes. Pure: no I/O.
 */
import { DEFAULT_CIPHERS } from "node:tls";

export interface ServingTlsOptions {
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** OpenSSL cipher string (TLS 1.3 suites first), or undefined for Node's defaults. */
  readonly ciphers?: string;
  /** OpenSSL group list ("X25519:P-256"), or undefined for Node's defaults. */
  readonly ecdhCurve?: string;
}

/** Go's names of the TLS 1.2 suites meshsign accepts (ECDHE and RSA key exchange, AES or ChaCha20; no 3DES or RC4). */
const SUITES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
};

/** Go's TLS 1.3 suite names: not configurable in Go (nor here), so naming one changes nothing. */
const TLS13_SUITES = new Set([
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
]);

/** Curve names as istio-csr takes them (Go's constant names, the NIST names, or Go's CurveID numbers). */
const CURVES: Readonly<Record<string, string>> = {
  X25519: "X25519",
  "29": "X25519",
  CurveP256: "P-256",
  "P-256": "P-256",
  P256: "P-256",
  "23": "P-256",
  CurveP384: "P-384",
  "P-384": "P-384",
  P384: "P-384",
  "24": "P-384",
  CurveP521: "P-521",
  "P-521": "P-521",
  P521: "P-521",
  "25": "P-521",
};

const VERSIONS: Readonly<Record<string, ServingTlsOptions["minVersion"]>> = {
  VersionTLS12: "TLSv1.2",
  VersionTLS13: "TLSv1.3",
};

/** The flags, as the configuration holds them. */
export interface ServingTlsSettings {
  readonly servingTlsMinVersion: string;
  readonly servingTlsCipherSuites: readonly string[];
  readonly servingTlsCurvePreferences: readonly string[];
}

/** Problems with the settings, one per flag; empty when they are usable. */
export function servingTlsProblems(c: ServingTlsSettings): string[] {
  const settings = {
    minVersion: c.servingTlsMinVersion,
    cipherSuites: c.servingTlsCipherSuites,
    curvePreferences: c.servingTlsCurvePreferences,
  };
  const p: string[] = [];
  if (VERSIONS[settings.minVersion] === undefined)
    p.push(
      `--serving-tls-min-version: must be VersionTLS12 or VersionTLS13 (TLS below 1.2 is not served), not "${settings.minVersion}"`,
    );
  const unknownSuite = settings.cipherSuites.find((s) => SUITES[s] === undefined && !TLS13_SUITES.has(s));
  if (unknownSuite !== undefined)
    p.push(
      `--serving-tls-cipher-suites: "${unknownSuite}" is not a TLS 1.2 suite meshsign serves (${Object.keys(SUITES).join(", ")})`,
    );
  else if (
    settings.cipherSuites.length > 0 &&
    settings.cipherSuites.every((s) => TLS13_SUITES.has(s)) &&
    settings.minVersion !== "VersionTLS13"
  )
    p.push(
      "--serving-tls-cipher-suites: names only TLS 1.3 suites, which are not configurable; name TLS 1.2 suites, or set --serving-tls-min-version=VersionTLS13",
    );
  const unknownCurve = settings.curvePreferences.find((c) => CURVES[c] === undefined);
  if (unknownCurve !== undefined)
    p.push(
      `--serving-tls-curve-preferences: "${unknownCurve}" is not a curve meshsign serves (X25519, CurveP256, CurveP384, CurveP521)`,
    );
  return p;
}

/** Node's TLS options for validated settings (see {@link servingTlsProblems}). */
export function servingTlsOptions(c: ServingTlsSettings): ServingTlsOptions {
  const settings = {
    minVersion: c.servingTlsMinVersion,
    cipherSuites: c.servingTlsCipherSuites,
    curvePreferences: c.servingTlsCurvePreferences,
  };
  const tls12 = [
    ...new Set(settings.cipherSuites.flatMap((s) => (SUITES[s] === undefined ? [] : [SUITES[s] as string]))),
  ];
  // TLS 1.3 keeps OpenSSL's suites whatever is named, as in Go.
  const tls13 = DEFAULT_CIPHERS.split(":").filter((s) => s.startsWith("TLS_"));
  const curves = [...new Set(settings.curvePreferences.map((c) => CURVES[c] as string))];
  return {
    minVersion: VERSIONS[settings.minVersion] ?? "TLSv1.2",
    ...(tls12.length > 0 ? { ciphers: [...tls13, ...tls12].join(":") } : {}),
    ...(curves.length > 0 ? { ecdhCurve: curves.join(":") } : {}),
  };
}
