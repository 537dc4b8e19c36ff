/**
 * The least a CreateCertificate server must do per request, on meshsign's
 * stack (grpc-js, protobuf-es request decoding, node:crypto): verify the
 * token's RS256 signature against the JWKS key, import the CSR's public key
 * (as a JWK, meshsign's fast path) and verify the CSR's signature with it,
 * sign a leaf's TBSCertificate with the CA key, and answer `[leaf, root]`.
 * No claim, SAN or extension checks, no DER building: the request's bytes
 * are real, but what they are signed into is prepared once per CSR and
 * cached. What is left between this and CreateCertificate on meshsign is
 * meshsign's own JavaScript (parsing, policy, building the leaf, metrics).
 */
import { createPublicKey, type JsonWebKey, type KeyObject, sign, verify } from "node:crypto";
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { buildSvidTemplate } from "../../src/authz/svid-template.js";
import { createResponse } from "../../src/csr-service/service-definition.js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "../../src/gen/istio/v1/auth/ca_pb.js";
import { decodePemBlocks, encodePem, signCertificate, signerFromCertificate } from "../../src/pki/index.js";

interface PreparedCsr {
  readonly keyJwk: JsonWebKey;
  readonly signedData: Buffer;
  readonly signature: Buffer;
  readonly leafTbs: Buffer;
  readonly leafPem: string;
}

export interface FloorOptions {
  /** The JWKS the tokens are signed for (bench/lib/cluster-tokens.ts's file); its first key (RS256) verifies them. */
  readonly jwks: { readonly keys: readonly JsonWebKey[] };
  /** A self-signed CA certificate (DER) and its key: the root of every answer. */
  readonly caDer: Uint8Array;
  readonly caKey: KeyObject;
}

export type FloorHandler = (
  call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
  callback: sendUnaryData<IstioCertificateResponse>,
) => void;

export function floorHandler(options: FloorOptions): FloorHandler {
  const tokenKey = createPublicKey({ key: options.jwks.keys[0] as JsonWebKey, format: "jwk" });
  const ca = signerFromCertificate(options.caDer, options.caKey);
  const rootPem = encodePem("CERTIFICATE", options.caDer);
  const prepared = new Map<string, PreparedCsr>();
  const prepare = (csrPem: string): PreparedCsr => {
    const der = (decodePemBlocks(csrPem)[0] as { der: Uint8Array }).der;
    const [info, , sig] = children(der);
    if (info === undefined || sig === undefined) throw new Error("not a CSR");
    // CertificationRequestInfo: version, subject, subjectPKInfo, attributes.
    const spki = children(der.subarray(info.start, info.end))[2];
    if (spki === undefined) throw new Error("not a CSR");
    const spkiDer = der.subarray(info.start + spki.start, info.start + spki.end);
    const now = Date.now();
    const leafDer = signCertificate(
      buildSvidTemplate("spiffe://cluster.local/ns/bench/sa/floor", spkiDer, {
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
      }),
      ca,
    );
    const tbs = children(leafDer)[0] as Tlv;
    const p: PreparedCsr = {
      keyJwk: createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" }).export({ format: "jwk" }),
      signedData: Buffer.from(der.subarray(info.start, info.end)),
      // BIT STRING value: one byte of unused bits, then the signature.
      signature: Buffer.from(der.subarray(sig.valueStart + 1, sig.end)),
      leafTbs: Buffer.from(leafDer.subarray(tbs.start, tbs.end)),
      leafPem: encodePem("CERTIFICATE", leafDer),
    };
    prepared.set(csrPem, p);
    return p;
  };
  return (call, callback) => {
    const authorization = String(call.metadata.get("authorization")[0] ?? "");
    const token = authorization.slice("Bearer ".length);
    const dot = token.lastIndexOf(".");
    const tokenOk = verify(
      "sha256",
      Buffer.from(token.slice(0, dot)),
      tokenKey,
      Buffer.from(token.slice(dot + 1), "base64url"),
    );
    if (!tokenOk) return callback({ code: 16, details: "token signature does not verify" });
    const csr = prepared.get(call.request.csr) ?? prepare(call.request.csr);
    const csrKey = createPublicKey({ key: csr.keyJwk, format: "jwk" });
    if (!verify("sha256", csr.signedData, csrKey, csr.signature)) {
      return callback({ code: 3, details: "CSR signature does not verify" });
    }
    sign("sha256", csr.leafTbs, ca.privateKey);
    callback(null, createResponse([csr.leafPem, rootPem]));
  };
}

interface Tlv {
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

/** The TLVs inside the DER SEQUENCE `der` (offsets into `der`); enough for well-formed input. */
function children(der: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let at = header(der, 0).valueStart;
  while (at < der.length) {
    const t = header(der, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

function header(der: Uint8Array, start: number): Tlv {
  let at = start + 1;
  let length = der[at++] as number;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (der[at++] as number);
  }
  return { start, valueStart: at, end: at + length };
}
