import { describe, expect, it } from "vitest";
import {
  allowedExtensions,
  authorizeCsr,
  DEFAULT_CSR_POLICY,
  evaluate,
  extKeyUsageAllowed,
  keyUsageAllowed,
  noBasicConstraints,
  onlyUriSans,
} from "../../src/authz/index.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { parseCsrDer } from "../../src/pki/csr.js";
import { namedBits, oid, sequence } from "../../src/pki/der/writer.js";
import { buildCsrDer, type CsrOptions, generateKeySync } from "../../src/pki/keys.js";

/*
 * cert-manager/istio-csr pkg/server/internal/extensions/extensions_test.go,
 * translated case by case. istio-csr's ValidateCSRExtentions is meshsign's
 * extension checks (only-uri-sans, no-basic-constraints, allowed-extensions,
 * key-usage-allowed, ext-key-usage-allowed) run over a parsed CSR; the
 * powersets are built over the same usage lists, in the same order.
 */

const UPSTREAM = "cert-manager/istio-csr pkg/server/internal/extensions/extensions_test.go";
const EXTENSION_CHECKS = [
  onlyUriSans,
  noBasicConstraints,
  allowedExtensions,
  keyUsageAllowed,
  extKeyUsageAllowed,
];
const KEY = generateKeySync({ type: "ec", curve: "P-256" });

/** Whether meshsign refuses a CSR built from `options` in its extension checks (parse errors included). */
function extensionsRefused(options: CsrOptions): boolean {
  try {
    const csr = parseCsrDer(buildCsrDer(KEY, options));
    evaluate(EXTENSION_CHECKS, { csr, expectedIdentity: "", policy: DEFAULT_CSR_POLICY });
    return false;
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    return true;
  }
}

// cert-manager's usages as GenerateCSR encodes them: key usages in keyUsage, the rest in extKeyUsage.
type CmUsage = "digital signature" | "key encipherment" | "client auth" | "server auth" | "cert sign";
function cmUsages(usages: readonly CmUsage[] | undefined): Pick<CsrOptions, "keyUsage" | "extKeyUsage"> {
  // BuildKeyUsages: no usages means digital signature + key encipherment.
  const list = usages ?? ["digital signature", "key encipherment"];
  const keyUsage = list.flatMap((u) =>
    u === "digital signature"
      ? (["digitalSignature"] as const)
      : u === "key encipherment"
        ? (["keyEncipherment"] as const)
        : u === "cert sign"
          ? (["keyCertSign"] as const)
          : [],
  );
  const extKeyUsage = list.flatMap((u) =>
    u === "client auth" ? (["clientAuth"] as const) : u === "server auth" ? (["serverAuth"] as const) : [],
  );
  return { keyUsage, ...(extKeyUsage.length > 0 ? { extKeyUsage } : {}) };
}

const ALLOWED: CmUsage[] = ["digital signature", "key encipherment", "client auth", "server auth"];

describe(`${UPSTREAM} TestValidateCSRExtentions`, () => {
  const cases: {
    name: string;
    uris: string[];
    dns?: string[];
    ips?: string[];
    emails?: string[];
    usages?: CmUsage[];
    expErr: boolean;
  }[] = [
    { name: "if single URI name exists, shouldn't error", uris: ["spiffe://foo.bar"], expErr: false },
    {
      name: "if single URI name exist with allowed usages, shouldn't error",
      uris: ["spiffe://foo.bar"],
      usages: ALLOWED,
      expErr: false,
    },
    {
      // The extension checks alone, as upstream; the one-URI-SAN rule refuses this CSR later (istio-csr-auth table).
      name: "if multiple URI names exist with allowed usages, shouldn't error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      usages: ALLOWED,
      expErr: false,
    },
    {
      name: "if multiple URI names exist, dns name, and allowed usages, should error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      dns: ["foo.bar"],
      usages: ALLOWED,
      expErr: true,
    },
    {
      name: "if multiple URI names exist, ips, and allowed usages, should error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      ips: ["1.2.3.4"],
      usages: ALLOWED,
      expErr: true,
    },
    {
      name: "if multiple URI names exist, emails, and allowed usages, should error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      emails: ["hello@example.com"],
      usages: ALLOWED,
      expErr: true,
    },
    {
      name: "if multiple URI names exist, emails, dns, ips, and allowed usages, should error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      dns: ["foo.bar"],
      ips: ["1.2.3.4"],
      emails: ["hello@example.com"],
      usages: ALLOWED,
      expErr: true,
    },
    {
      name: "if multiple URI names exist, and subset allowed usages, shouldn't error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      usages: ["digital signature", "server auth"],
      expErr: false,
    },
    {
      name: "if multiple URI names exist, with disallowed usages, should error",
      uris: ["spiffe://foo.bar", "spiffe://bar.foo"],
      usages: [...ALLOWED, "cert sign"],
      expErr: true,
    },
  ];

  it.each(cases)("$name", ({ uris, dns, ips, emails, usages, expErr }) => {
    const options: CsrOptions = {
      uris,
      ...(dns ? { dnsNames: dns } : {}),
      ...(ips ? { ipAddresses: ips } : {}),
      ...(emails ? { emailAddresses: emails } : {}),
      ...cmUsages(usages),
    };
    expect(extensionsRefused(options)).toBe(expErr);
  });

  it("a single-URI CSR with allowed usages also passes meshsign's whole chain (a real request)", () => {
    const csr = parseCsrDer(buildCsrDer(KEY, { uris: ["spiffe://foo.bar/ns/a/sa/b"], ...cmUsages(ALLOWED) }));
    expect(() =>
      authorizeCsr({ csr, expectedIdentity: "spiffe://foo.bar/ns/a/sa/b", policy: DEFAULT_CSR_POLICY }),
    ).not.toThrow();
  });
});

/** Go's powerset: every non-empty subset, by increasing bit mask over the list's order. */
function powerset<T>(set: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let bits = 1; bits < 1 << set.length; bits++) out.push(set.filter((_, i) => (bits >> i) & 1));
  return out;
}

// Go's x509.KeyUsage bit positions (RFC 5280 §4.2.1.3), in the upstream lists' order.
const DISALLOWED_KEY_USAGES = [
  ["ContentCommitment", 1],
  ["DataEncipherment", 3],
  ["KeyAgreement", 4],
  ["CertSign", 5],
  ["CRLSign", 6],
  ["EncipherOnly", 7],
  ["DecipherOnly", 8],
] as const;
const ALLOWED_KEY_USAGES = [
  ["DigitalSignature", 0],
  ["KeyEncipherment", 2],
] as const;

type Named = readonly (readonly [string, number | string])[];
const names = (set: Named) => `[${set.map(([n]) => n).join(" ")}]`;

/** A CSR asking for exactly these key usage bits (one keyUsage extension, DER named bits). */
function keyUsageCsr(set: readonly (readonly [string, number])[]): CsrOptions {
  return {
    uris: ["spiffe://foo.bar"],
    extraExtensions: [{ oid: "2.5.29.15", critical: true, value: namedBits(set.map(([, bit]) => bit)) }],
  };
}

describe(`${UPSTREAM} TestValidateKeyUsageExtension (powerset)`, () => {
  const allowedSets = [...powerset(ALLOWED_KEY_USAGES), []];
  const refused = powerset(DISALLOWED_KEY_USAGES).flatMap((d) => allowedSets.map((a) => [...d, ...a]));

  it("has upstream's case count: 127 disallowed subsets x 4 allowed sets, plus 4 allowed-only", () => {
    expect(refused.length).toBe(508);
    expect(allowedSets.length).toBe(4);
  });

  it("usage [...] expErr=true: every set with a disallowed usage is refused (508 cases)", () => {
    const accepted = refused.filter((set) => !extensionsRefused(keyUsageCsr(set))).map(names);
    expect(accepted).toEqual([]);
  });

  it.each(powerset(ALLOWED_KEY_USAGES).map((set) => ({ set, label: names(set) })))(
    "usage $label expErr=false: allowed usages alone pass",
    ({ set }) => {
      expect(extensionsRefused(keyUsageCsr(set))).toBe(false);
    },
  );

  it("usage [] expErr=false: a keyUsage extension with no bit set passes", () => {
    expect(extensionsRefused(keyUsageCsr([]))).toBe(false);
  });
});

// Go's x509.ExtKeyUsage OIDs, in the upstream lists' order.
const DISALLOWED_EKUS = [
  ["Any", "2.5.29.37.0"],
  ["CodeSigning", "1.3.6.1.5.5.7.3.3"],
  ["EmailProtection", "1.3.6.1.5.5.7.3.4"],
  ["IPSECEndSystem", "1.3.6.1.5.5.7.3.5"],
  ["IPSECTunnel", "1.3.6.1.5.5.7.3.6"],
  ["IPSECUser", "1.3.6.1.5.5.7.3.7"],
  ["TimeStamping", "1.3.6.1.5.5.7.3.8"],
  ["OCSPSigning", "1.3.6.1.5.5.7.3.9"],
  ["MicrosoftServerGatedCrypto", "1.3.6.1.4.1.311.10.3.3"],
  ["NetscapeServerGatedCrypto", "2.16.840.1.113730.4.1"],
  ["MicrosoftCommercialCodeSigning", "1.3.6.1.4.1.311.2.1.22"],
  ["MicrosoftKernelCodeSigning", "1.3.6.1.4.1.311.61.1.1"],
] as const;
const ALLOWED_EKUS = [
  ["ServerAuth", "1.3.6.1.5.5.7.3.1"],
  ["ClientAuth", "1.3.6.1.5.5.7.3.2"],
] as const;

function extKeyUsageCsr(set: readonly (readonly [string, string])[]): CsrOptions {
  return {
    uris: ["spiffe://foo.bar"],
    extraExtensions: [{ oid: "2.5.29.37", critical: false, value: sequence(...set.map(([, o]) => oid(o))) }],
  };
}

describe(`${UPSTREAM} TestValidateExtendedKeyUsageExtension (powerset)`, () => {
  const allowedSets = [...powerset(ALLOWED_EKUS), []];
  const disallowed = powerset(DISALLOWED_EKUS);

  it("has upstream's case count: 4095 disallowed subsets x 4 allowed sets, plus 4 allowed-only", () => {
    expect(disallowed.length * allowedSets.length).toBe(16_380);
  });

  // One test per allowed set keeps 16,380 CSRs inside a few tests; a failure lists the upstream case names.
  it.each(allowedSets.map((allowed) => ({ allowed, label: names(allowed) })))(
    "ext usages [<disallowed subset> + $label] expErr=true: all 4095 refused",
    ({ allowed }) => {
      const accepted = disallowed
        .map((d) => [...d, ...allowed])
        .filter((set) => !extensionsRefused(extKeyUsageCsr(set)))
        .map(names);
      expect(accepted).toEqual([]);
    },
  );

  // Upstream expects an error for these too, but only because its test wraps the EKU list in the
  // keyUsage OID, which validateExtendedKeyUsageExtension refuses for any content. Deliberate:
  // serverAuth/clientAuth are what istio-csr itself accepts in a real CSR (first table above).
  it.each(powerset(ALLOWED_EKUS).map((set) => ({ set, label: names(set) })))(
    "ext usages $label expErr=true upstream: meshsign accepts serverAuth/clientAuth, as istio-csr does for a real CSR",
    ({ set }) => {
      expect(extensionsRefused(extKeyUsageCsr(set))).toBe(false);
    },
  );

  // Upstream (vacuously) expects an error; an empty EKU SEQUENCE is invalid (RFC 5280 §4.2.1.12: SIZE (1..MAX)).
  it("ext usages [] expErr=true: an empty extKeyUsage extension is refused", () => {
    expect(extensionsRefused(extKeyUsageCsr([]))).toBe(true);
  });
});
