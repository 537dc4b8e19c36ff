/**
 * The ACME account key in `privateKeySecretRef`: read, or generated when
 * missing (RSA-2048 PKCS#1, cert-manager's default) unless
 * `disableAccountKeyGeneration`, and its hash as cert-manager writes it to
 * `status.acme.lastPrivateKeyHash` (base64 SHA-256 of the PKCS#1 DER; SEC1
 * DER for an EC key, which cert-manager does not accept but meshsign does).
 */
import { createHash, createPrivateKey, type KeyObject } from "node:crypto";
import { MeshsignError } from "../../errors/index.js";
import { generatePrivateKeyObject } from "../../pki/index.js";

/** Label cert-manager puts on the account key Secret it generates. */
export const ACCOUNT_KEY_LABELS: Readonly<Record<string, string>> = {
  "app.kubernetes.io/managed-by": "cert-manager",
};

export function parseAccountKey(pem: string, where: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new MeshsignError("ERR_KEY_INVALID", `the ACME account key in ${where} cannot be decoded`, {
      cause: err,
    });
  }
}

export async function generateAccountKey(): Promise<{ key: KeyObject; pem: string }> {
  const key = await generatePrivateKeyObject("rsa", { modulusLength: 2048 });
  return { key, pem: key.export({ type: "pkcs1", format: "pem" }).toString() };
}

export function accountKeyHash(key: KeyObject): string {
  const der =
    key.asymmetricKeyType === "rsa"
      ? key.export({ type: "pkcs1", format: "der" })
      : key.export({ type: "sec1", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}
