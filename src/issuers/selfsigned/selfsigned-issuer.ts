import { type KeyObject, createPrivateKey, createPublicKey } from "node:crypto";
import { MeshsignError } from "../../errors/index.js";
import { derToPem } from "../ca/lib/pem.js";
import { createTemplateSigner } from "../ca/lib/x509-sign.js";
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
      key = createPrivateKey(request.privateKeyPem);
    } catch (err) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the request's private key cannot be parsed", { cause: err });
    }
    const spki = createPublicKey(key).export({ format: "der", type: "spki" });
    if (!Buffer.from(spki).equals(Buffer.from(request.template.publicKeySpki))) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the private key does not match the request's public key", {
        detail: { requestId: request.requestId, reason: "ErrorKeyMatch" },
      });
    }
    let der: Uint8Array;
    try {
      const signer = await createTemplateSigner({ privateKey: key });
      der = await signer.sign(request.template);
    } catch (err) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "failed to self-sign the certificate", { cause: err });
    }
    const pem = derToPem(der);
    return { status: "issued", chain: [pem], ca: pem };
  }
}
