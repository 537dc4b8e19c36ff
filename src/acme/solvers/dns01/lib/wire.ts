/**
 * The parts of `dns-packet` meshsign uses beyond its typed surface: the name
 * and TXT codecs it exports at run time (its @types package declares only
 * whole-message encode/decode). Used to write RFC 2136 update records with
 * class NONE, which the whole-message encoder cannot express.
 */
import * as dnsPacket from "dns-packet";

interface Codec<T> {
  encode(value: T, buf?: Buffer, offset?: number): Buffer;
  decode(buf: Buffer, offset?: number): T;
  encodingLength(value: T): number;
}

interface Codecs {
  readonly name: Codec<string> & { decode: { bytes: number } };
  readonly txt: Codec<Array<string | Buffer>>;
  readonly answer: Codec<dnsPacket.Answer> & { decode: { bytes: number } };
  readonly question: Codec<dnsPacket.Question> & { decode: { bytes: number } };
}

const codecs = dnsPacket as unknown as Codecs;

/** A domain name in uncompressed wire form, lower-cased (RFC 4034 6.2 canonical form, as TSIG needs). */
export function encodeName(name: string): Buffer {
  const n = name.toLowerCase();
  return codecs.name.encode(n === "" ? "." : n);
}

/** The RDATA of one TXT record holding `value` (split into 255-byte strings), with its 2-byte length. */
export function encodeTxtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return codecs.txt.encode(chunks.length === 0 ? [Buffer.alloc(0)] : chunks);
}

/** Decodes one question at `offset`; returns it and its length in bytes. */
export function decodeQuestion(buf: Buffer, offset: number): { question: dnsPacket.Question; bytes: number } {
  const question = codecs.question.decode(buf, offset);
  return { question, bytes: codecs.question.decode.bytes };
}

/** Decodes one resource record at `offset`; returns it and its length in bytes. */
export function decodeRecord(buf: Buffer, offset: number): { record: dnsPacket.Answer; bytes: number } {
  const record = codecs.answer.decode(buf, offset);
  return { record, bytes: codecs.answer.decode.bytes };
}

/** Decodes a domain name at `offset` (following compression pointers). */
export function decodeName(buf: Buffer, offset: number): { name: string; bytes: number } {
  const name = codecs.name.decode(buf, offset);
  return { name, bytes: codecs.name.decode.bytes };
}
