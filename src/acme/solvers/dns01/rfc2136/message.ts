/**
 * The RFC 2136 UPDATE message that adds or deletes exactly one TXT record:
 * zone section = the zone's SOA question, no prerequisites, one update RR.
 * Adding is class IN with the TTL (2.5.1); deleting one RR from an RRset is
 * class NONE, TTL 0, with the RDATA to remove (2.5.4), so other values under
 * the same name (a wildcard's and its apex's) stay. Both are idempotent on
 * the server: a duplicate add and the delete of an absent RR are no-ops (3.4.2).
 */
import { encodeName, encodeTxtRdata } from "../lib/wire.js";

const OPCODE_UPDATE = 5;
const TYPE_SOA = 6;
const TYPE_TXT = 16;
const CLASS_IN = 1;
const CLASS_NONE = 254;

export type UpdateAction = "add" | "delete";

export interface TxtUpdate {
  readonly id: number;
  /** Zone apex, e.g. `example.com.` */
  readonly zone: string;
  /** Record name inside the zone, e.g. `_acme-challenge.example.com.` */
  readonly fqdn: string;
  readonly value: string;
  readonly action: UpdateAction;
  /** TTL of an added record (ignored for delete). */
  readonly ttl: number;
}

/** The wire form of the update (without TSIG). */
export function buildTxtUpdate(u: TxtUpdate): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(u.id, 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4); // ZOCOUNT
  header.writeUInt16BE(0, 6); // PRCOUNT
  header.writeUInt16BE(1, 8); // UPCOUNT
  header.writeUInt16BE(0, 10); // ADCOUNT

  const zone = Buffer.alloc(4);
  zone.writeUInt16BE(TYPE_SOA, 0);
  zone.writeUInt16BE(CLASS_IN, 2);

  const fixed = Buffer.alloc(8);
  fixed.writeUInt16BE(TYPE_TXT, 0);
  fixed.writeUInt16BE(u.action === "add" ? CLASS_IN : CLASS_NONE, 2);
  fixed.writeUInt32BE(u.action === "add" ? u.ttl : 0, 4);

  return Buffer.concat([
    header,
    encodeName(u.zone),
    zone,
    encodeName(u.fqdn),
    fixed,
    encodeTxtRdata(u.value),
  ]);
}
