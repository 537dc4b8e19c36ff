import { describe, expect, it } from "vitest";
import { translateAnnotations } from "../../../src/engine/shims/index.js";
import { splitCsvRecord } from "../../../src/engine/shims/lib/csv.js";

/** The annotations of cert-manager's own "success" case (helper_test.go). */
const valid = (): Record<string, string> => ({
  "cert-manager.io/common-name": "www.example.com",
  "cert-manager.io/duration": "168h",
  "cert-manager.io/renew-before": "24h",
  "cert-manager.io/usages": "server auth,signing",
  "cert-manager.io/revision-history-limit": "7",
  "cert-manager.io/email-sans": "test@example.com",
  "cert-manager.io/subject-organizations": "Test Organization",
  "cert-manager.io/subject-organizationalunits": "Test Organizational Unit",
  "cert-manager.io/subject-countries": "Country",
  "cert-manager.io/subject-provinces": "Province",
  "cert-manager.io/subject-localities": "City",
  "cert-manager.io/subject-streetaddresses": `"1725 Slough Avenue, Suite 200, Scranton Business Park","1800 Slough Avenue, Suite 200, Scranton Business Park"`,
  "cert-manager.io/subject-postalcodes": "ABC123",
  "cert-manager.io/subject-serialnumber": "123456",
});

describe("translateAnnotations", () => {
  it("reads every annotation of cert-manager's success case into the spec", () => {
    expect(translateAnnotations(valid())).toEqual({
      ok: true,
      spec: {
        commonName: "www.example.com",
        emailAddresses: ["test@example.com"],
        subject: {
          organizations: ["Test Organization"],
          organizationalUnits: ["Test Organizational Unit"],
          countries: ["Country"],
          provinces: ["Province"],
          localities: ["City"],
          postalCodes: ["ABC123"],
          streetAddresses: [
            "1725 Slough Avenue, Suite 200, Scranton Business Park",
            "1800 Slough Avenue, Suite 200, Scranton Business Park",
          ],
          serialNumber: "123456",
        },
        duration: "168h",
        renewBefore: "24h",
        usages: ["server auth", "signing"],
        revisionHistoryLimit: 7,
      },
    });
  });

  it.each([
    ["RSA", "PKCS1", "2048", { algorithm: "RSA", encoding: "PKCS1", size: 2048, rotationPolicy: "Always" }],
    ["ECDSA", "PKCS1", "256", { algorithm: "ECDSA", encoding: "PKCS1", size: 256, rotationPolicy: "Always" }],
    ["Ed25519", "PKCS8", undefined, { algorithm: "Ed25519", encoding: "PKCS8", rotationPolicy: "Always" }],
  ])("reads the private key annotations for %s", (algorithm, encoding, size, expected) => {
    const r = translateAnnotations({
      "cert-manager.io/private-key-algorithm": algorithm,
      "cert-manager.io/private-key-encoding": encoding,
      ...(size !== undefined ? { "cert-manager.io/private-key-size": size } : {}),
      "cert-manager.io/private-key-rotation-policy": "Always",
    });
    expect(r.ok && r.spec.privateKey).toEqual(expected);
  });

  it("reads renew-before-percentage and a secret template", () => {
    const r = translateAnnotations({
      "cert-manager.io/renew-before-percentage": "50",
      "cert-manager.io/secret-template": '{"labels":{"team":"web"},"annotations":{"a.example/b":"c"}}',
    });
    expect(r).toEqual({
      ok: true,
      spec: {
        renewBeforePercentage: 50,
        secretTemplate: { labels: { team: "web" }, annotations: { "a.example/b": "c" } },
      },
    });
  });

  it("leaves the spec empty without annotations", () => {
    expect(translateAnnotations({})).toEqual({ ok: true, spec: {} });
  });

  const bad: [string, string, string, RegExp][] = [
    [
      "an unparsable duration",
      "cert-manager.io/duration",
      "an un-parsable duration string",
      /invalid duration/,
    ],
    ["an unparsable renew-before", "cert-manager.io/renew-before", "1 day", /invalid duration/],
    [
      "an unparsable renew-before-percentage",
      "cert-manager.io/renew-before-percentage",
      "an un-parsable integer",
      /invalid integer/,
    ],
    [
      "an unknown usage",
      "cert-manager.io/usages",
      "playing ping pong",
      /invalid key usage name "playing ping pong"/,
    ],
    [
      "an empty usage in the list",
      "cert-manager.io/usages",
      "server auth,,signing",
      /invalid key usage name ""/,
    ],
    [
      "an unparsable revision history limit",
      "cert-manager.io/revision-history-limit",
      "seven",
      /invalid integer/,
    ],
    [
      "a zero revision history limit",
      "cert-manager.io/revision-history-limit",
      "0",
      /must be a positive number/,
    ],
    [
      "an unknown private key algorithm",
      "cert-manager.io/private-key-algorithm",
      "DSA",
      /invalid private key algorithm "DSA"/,
    ],
    [
      "an unknown private key encoding",
      "cert-manager.io/private-key-encoding",
      "PEM",
      /invalid private key encoding/,
    ],
    [
      "an unknown rotation policy",
      "cert-manager.io/private-key-rotation-policy",
      "Sometimes",
      /invalid private key rotation policy/,
    ],
    ["an unparsable private key size", "cert-manager.io/private-key-size", "big", /invalid integer/],
    ["a zero private key size (RSA by default)", "cert-manager.io/private-key-size", "0", /RSA/],
    ["broken CSV in street addresses", "cert-manager.io/subject-streetaddresses", 'invalid csv",', /bare "/],
    [
      "a secret template that is not JSON",
      "cert-manager.io/secret-template",
      "{labels:",
      /error parsing secret template JSON/,
    ],
    [
      "a secret template with an unknown field",
      "cert-manager.io/secret-template",
      '{"label":{}}',
      /unknown field "label"/,
    ],
    [
      "a secret template with a cert-manager.io annotation",
      "cert-manager.io/secret-template",
      '{"annotations":{"cert-manager.io/x":"y"}}',
      /must not have cert-manager.io/,
    ],
  ];
  it.each(bad)("refuses %s, naming the annotation and its value", (_name, annotation, value, message) => {
    const r = translateAnnotations({ ...valid(), [annotation]: value });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.annotation).toBe(annotation);
    expect(r.value).toBe(value);
    expect(r.message).toMatch(message);
  });

  it("checks a key size against the algorithm given with it", () => {
    expect(
      translateAnnotations({
        "cert-manager.io/private-key-algorithm": "RSA",
        "cert-manager.io/private-key-size": "1024",
      }).ok,
    ).toBe(false);
    expect(
      translateAnnotations({
        "cert-manager.io/private-key-algorithm": "ECDSA",
        "cert-manager.io/private-key-size": "128",
      }).ok,
    ).toBe(false);
    expect(
      translateAnnotations({
        "cert-manager.io/private-key-algorithm": "ECDSA",
        "cert-manager.io/private-key-size": "521",
      }).ok,
    ).toBe(true);
  });
});

describe("splitCsvRecord (Go encoding/csv, one record)", () => {
  it.each([
    ["a,b", ["a", "b"]],
    ['"10 Downing Street, Westminster",Manchester', ["10 Downing Street, Westminster", "Manchester"]],
    ['"say ""hi""",x', ['say "hi"', "x"]],
    ["a,", ["a", ""]],
    [" a , b", [" a ", " b"]],
    ["a\n", ["a"]],
  ])("splits %j", (input, values) => {
    expect(splitCsvRecord(input)).toEqual({ ok: true, values });
  });

  it.each([
    ["", /no values found/],
    ["a\nb", /multiple lines/],
    ['a"b', /bare "/],
    ['"a"b', /extraneous or missing "/],
    ['"open', /extraneous or missing "/],
  ])("refuses %j", (input, message) => {
    const r = splitCsvRecord(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });
});
