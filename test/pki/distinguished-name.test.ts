import { describe, expect, it } from "vitest";
import { parseDistinguishedName } from "../../src/pki/distinguished-name.js";
import { buildCsr } from "../../src/pki/keys.js";
import { key, openssl } from "./helpers.js";

const C = "2.5.4.6";
const O = "2.5.4.10";
const OU = "2.5.4.11";
const CN = "2.5.4.3";

describe("an RFC 4514 name", () => {
  it.each([
    ["is encoded last RDN first", "CN=actual-cn, OU=FooLong, OU=Bar, O=example.org", [[{ type: O, value: "example.org" }], [{ type: OU, value: "Bar" }], [{ type: OU, value: "FooLong" }], [{ type: CN, value: "actual-cn" }]]],
    ["joins '+' attributes into one RDN", "CN=a,OU=x+OU=y,C=DE", [[{ type: C, value: "DE" }], [{ type: OU, value: "x" }, { type: OU, value: "y" }], [{ type: CN, value: "a" }]]],
    ["takes backslash and hex escapes", "CN=a\\,b\\2Bc\\ ", [[{ type: CN, value: "a,b+c " }]]],
    ["takes UTF-8 hex escapes", "CN=caf\\C3\\A9", [[{ type: CN, value: "café" }]]],
    ["takes a #hex DER string", "CN=#0c03616263", [[{ type: CN, value: "abc" }]]],
    ["takes an unescaped '=' inside a value (RFC 4514 does not require escaping it)", "CN=a=b", [[{ type: CN, value: "a=b" }]]],
    ["takes dotted OIDs and cert-manager's long names", "1.2.3.4=v+SERIALNUMBER=7,STREET=Main St,UID=u,DC=example", [[{ type: "0.9.2342.19200300.100.1.25", value: "example" }], [{ type: "0.9.2342.19200300.100.1.1", value: "u" }], [{ type: "2.5.4.9", value: "Main St" }], [{ type: "1.2.3.4", value: "v" }, { type: "2.5.4.5", value: "7" }]]],
  ])("%s", (_name, text, want) => {
    expect(parseDistinguishedName(text)).toEqual(want);
  });

  it.each([
    ["an unknown attribute type", "B=TX,CN=a", /unknown attribute type "B"/],
    ["a lower-case type (cert-manager's table is case-sensitive)", "cn=a", /unknown attribute type "cn"/],
    ["a type without a value", "CN", /expected "type=value"/],
    ["a trailing separator", "CN=a,", /ends with a separator/],
    ["a bad escape", "CN=a\\x", /invalid escape/],
    ["text after a #hex value", "CN=#0c03616263x", /after a #hex value/],
    ["an unescaped '<' in a value", "CN=a<b", /must be escaped/],
  ])("refuses %s", (_name, text, message) => {
    expect(() => parseDistinguishedName(text)).toThrow(message);
  });

  it("reads back in openssl's RFC 2253 form as it was written", () => {
    const pem = buildCsr(key({ type: "ec", curve: "P-256" }), { subject: parseDistinguishedName("CN=actual-cn,OU=FooLong,OU=Bar,O=example.org") });
    expect(openssl(["req", "-noout", "-subject", "-nameopt", "RFC2253"], pem).trim()).toBe("subject=CN=actual-cn,OU=FooLong,OU=Bar,O=example.org");
  });
});
