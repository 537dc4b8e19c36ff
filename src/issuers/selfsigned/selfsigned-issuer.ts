import type { KeyObject } from "node:crypto";
import { MeshsignError, isMeshsignError } from "../../errors/index.js";
import { type CertificateSigner, encodePem, privateKeyFromPem, selfSignedSigner, signCertificate } from "../../pki/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "../issuer.js";

const READY: IssuerStatus = { ready: true, reason: "IsReady", message: "" };

/**
 * cert-manager's `selfSigned` issuer: signs each request with the request's
 * own private key (`SignRequest.privateKeyPem`), so the certificate is its own
 * CA and `ca` equals the leaf (ca.crt = tls.crt). Always ready.
 */
export class SelfSignedIssuer implements Issuer {
  readonly kind = "selfsigned";

  status(): IssuerStatus {
    return READY;
  }

  async sign(request: SignRequest): Promise<SignResult> {
    if (request.privateKeyPem === undefined) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the SelfSigned issuer needs the request's private key", {
        detail: { requestId: request.requestId, reason: "MissingAnnotation" },
      });
    }
    let key: KeyObject;
    try {
      key = privateKeyFromPem(request.privateKeyPem);
    } catch (err) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the request's private key cannot be parsed", { cause: err });
    }
    let signer: CertificateSigner;
    try {
      // Checks that the key matches the template's public key (cert-manager's ErrorKeyMatch).
      signer = selfSignedSigner(request.template, key);
    } catch (err) {
      const mismatch = isMeshsignError(err, "ERR_KEY_INVALID");
      throw new MeshsignError(
        "ERR_SIGNING_FAILED",
        mismatch ? "the private key does not match the request's public key" : "failed to self-sign the certificate",
        { cause: err, detail: { requestId: request.requestId, ...(mismatch ? { reason: "ErrorKeyMatch" } : {}) } },
      );
    }
    let der: Uint8Array;
    try {
      der = signCertificate(request.template, signer);
    } catch (err) {
      const message = isMeshsignError(err) ? err.message : "failed to self-sign the certificate";
      throw new MeshsignError("ERR_SIGNING_FAILED", message, { cause: err, detail: { requestId: request.requestId } });
    }
    const pem = encodePem("CERTIFICATE", der);
    return { status: "issued", chain: [pem], ca: pem };
  }
}
