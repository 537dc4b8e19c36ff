/**
 * NameConstraints (RFC 5280 §4.2.1.10) encode and decode, for the four base
 * forms cert-manager's API can express: dNSName, iPAddress (address and
 * mask), rfc822Name and uniformResourceIdentifier. Within each side the
 * subtrees are written in Go's order (DNS, IP, email, URI), so a CSR or a
 * certificate is byte-identical to what cert-manager writes for the same spec.
 * minimum/maximum are never written (RFC 5280: MUST be 0 / absent).
 */
import type { ErrorCode } from "../../errors/index.js";
import { DerReader } from "../der/reader.js";
import { asciiString, constructed, isIa5, sequence, tlv } from "../der/writer.js";
import type { NameConstraintSubtrees, NameConstraints } from "../template.js";
import { formatIp, parseIp } from "./ip.js";

export class NameConstraintsError extends Error {}

/** "10.10.0.0/16" -> address bytes masked to the prefix, followed by the mask (Go's IPNet encoding). */
function cidrBytes(cidr: string): Uint8Array {
  const slash = cidr.indexOf("/");
  const ip = slash < 0 ? undefined : parseIp(cidr.slice(0, slash));
  const bitsText = slash < 0 ? "" : cidr.slice(slash + 1);
  if (ip === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > ip.length * 8) {
    throw new NameConstraintsError(`invalid CIDR range ${JSON.stringify(cidr)}`);
  }
  const bits = Number(bitsText);
  const out = new Uint8Array(ip.length * 2);
  for (let i = 0; i < ip.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    out[i] = (ip[i] as number) & mask;
    out[ip.length + i] = mask;
  }
  return out;
}

function ia5(tagNumber: number, value: string, what: string): Uint8Array {
  // An empty dNSName constraint is legal in Go (it matches every name), but not from cert-manager's API.
  if (value.length === 0 || !isIa5(value)) throw new NameConstraintsError(`${what} constraint must be non-empty ASCII`);
  return asciiString(0x80 | tagNumber, value);
}

function subtrees(tag: number, s: NameConstraintSubtrees | undefined): Uint8Array[] {
  if (s === undefined) return [];
  const bases: Uint8Array[] = [
    ...(s.dnsDomains ?? []).map((d) => ia5(2, d, "DNS domain")),
    ...(s.ipRanges ?? []).map((r) => tlv(0x87, cidrBytes(r))),
    ...(s.emailAddresses ?? []).map((e) => ia5(1, e, "email address")),
    ...(s.uriDomains ?? []).map((u) => ia5(6, u, "URI domain")),
  ];
  // GeneralSubtrees ::= SEQUENCE SIZE (1..MAX): an empty side is omitted, as Go does.
  return bases.length === 0 ? [] : [constructed(tag, bases.map((b) => sequence(b)))];
}

/** The extension value, or undefined when neither side holds a subtree (nothing to constrain). */
export function encodeNameConstraintsValue(nc: NameConstraints): Uint8Array | undefined {
  const parts = [...subtrees(0xa0, nc.permitted), ...subtrees(0xa1, nc.excluded)];
  return parts.length === 0 ? undefined : sequence(...parts);
}

/** "10.10.0.0/255.255.0.0" bytes back to "10.10.0.0/16"; a non-contiguous mask is refused. */
function cidrText(b: Uint8Array, r: DerReader): string {
  if (b.length !== 8 && b.length !== 32) r.fail("NameConstraints iPAddress length");
  const half = b.length / 2;
  let bits = 0;
  let ended = false;
  for (let i = half; i < b.length; i++) {
    for (let bit = 7; bit >= 0; bit--) {
      const set = (((b[i] as number) >> bit) & 1) === 1;
      if (set && ended) r.fail("NameConstraints iPAddress mask is not a prefix");
      if (set) bits++;
      else ended = true;
    }
  }
  return `${formatIp(b.subarray(0, half))}/${bits}`;
}

interface Subtrees {
  dnsDomains: string[];
  ipRanges: string[];
  emailAddresses: string[];
  uriDomains: string[];
}

function readSubtrees(r: DerReader): NameConstraintSubtrees {
  const out: Subtrees = { dnsDomains: [], ipRanges: [], emailAddresses: [], uriDomains: [] };
  if (r.atEnd()) r.fail("empty GeneralSubtrees");
  while (!r.atEnd()) {
    const st = r.sequence("GeneralSubtree");
    const base = st.next();
    // minimum [0] DEFAULT 0 and maximum [1]: RFC 5280 says MUST be absent / zero; DER omits the default.
    if (!st.atEnd()) st.fail("GeneralSubtree minimum/maximum are not supported");
    const v = st.value(base);
    switch (base.tag) {
      case 0x82:
        out.dnsDomains.push(st.ascii(v, undefined, "dNSName constraint"));
        break;
      case 0x87:
        out.ipRanges.push(cidrText(v, st));
        break;
      case 0x81:
        out.emailAddresses.push(st.ascii(v, undefined, "rfc822Name constraint"));
        break;
      case 0x86:
        out.uriDomains.push(st.ascii(v, undefined, "uniformResourceIdentifier constraint"));
        break;
      default:
        st.fail("NameConstraints base form other than DNS, IP, email or URI");
    }
  }
  // Only the forms present, so a decoded value compares equal to the one that was encoded.
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v.length > 0));
}

/** Decodes an extension value; throws a MeshsignError with `code` on any form it cannot represent. */
export function decodeNameConstraintsValue(value: Uint8Array, critical: boolean, code: ErrorCode): NameConstraints {
  const top = new DerReader(value, code);
  const seq = top.sequence("NameConstraints");
  top.finish("NameConstraints");
  const p = seq.optional(0xa0);
  const e = seq.optional(0xa1);
  seq.finish("NameConstraints");
  if (p === undefined && e === undefined) seq.fail("NameConstraints without subtrees"); // RFC 5280 §4.2.1.10 MUST
  return {
    critical,
    ...(p === undefined ? {} : { permitted: readSubtrees(seq.inside(p, "permittedSubtrees")) }),
    ...(e === undefined ? {} : { excluded: readSubtrees(seq.inside(e, "excludedSubtrees")) }),
  };
}
