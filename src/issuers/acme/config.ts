/**
 * `spec.acme` of an Issuer/ClusterIssuer, validated once into a typed config
 * with cert-manager's defaults (`privateKeySecretRef.key` = `tls.key`,
 * `externalAccountBinding.keySecretRef.key` required as cert-manager reads it,
 * `renewalInformationSource` = ARI). A bad field becomes a terminal
 * ERR_CONFIG_INVALID naming it (the Issuer's Ready reason `InvalidConfig`).
 */
import { acmeIssuerSchema } from "../../api/schemas/acme.js";
import type { AcmeSolver } from "../../api/types.js";
import { MeshsignError } from "../../errors/index.js";

export interface AcmeIssuerConfig {
  readonly server: string;
  readonly email?: string;
  readonly privateKeySecretRef: { readonly name: string; readonly key: string };
  readonly externalAccountBinding?: {
    readonly keyID: string;
    readonly keySecretRef: { readonly name: string; readonly key: string };
  };
  readonly skipTLSVerify: boolean;
  /** PEM (decoded from the resource's base64). */
  readonly caBundle?: string;
  readonly preferredChain?: string;
  readonly enableDurationFeature: boolean;
  readonly disableAccountKeyGeneration: boolean;
  readonly profile?: string;
  readonly renewalInformationSource: "ARI" | "None";
  readonly solvers: readonly AcmeSolver[];
}

export function parseAcmeConfig(spec: unknown): AcmeIssuerConfig {
  const parsed = acmeIssuerSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = ["spec", "acme", ...(issue?.path ?? [])].join(".");
    throw new MeshsignError("ERR_CONFIG_INVALID", `${path}: ${issue?.message ?? "invalid"}`);
  }
  const a = parsed.data;
  const eab = a.externalAccountBinding;
  if (eab !== undefined && (eab.keySecretRef.key === undefined || eab.keySecretRef.key === "")) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      "spec.acme.externalAccountBinding.keySecretRef.key is required",
    );
  }
  return {
    server: a.server,
    ...(a.email !== undefined && a.email !== "" ? { email: a.email } : {}),
    privateKeySecretRef: { name: a.privateKeySecretRef.name, key: a.privateKeySecretRef.key || "tls.key" },
    ...(eab !== undefined
      ? {
          externalAccountBinding: {
            keyID: eab.keyID,
            keySecretRef: { name: eab.keySecretRef.name, key: eab.keySecretRef.key as string },
          },
        }
      : {}),
    skipTLSVerify: a.skipTLSVerify === true,
    ...(a.caBundle !== undefined && a.caBundle !== ""
      ? { caBundle: Buffer.from(a.caBundle, "base64").toString("utf8") }
      : {}),
    ...(a.preferredChain !== undefined && a.preferredChain !== ""
      ? { preferredChain: a.preferredChain }
      : {}),
    enableDurationFeature: a.enableDurationFeature === true,
    disableAccountKeyGeneration: a.disableAccountKeyGeneration === true,
    ...(a.profile !== undefined && a.profile !== "" ? { profile: a.profile } : {}),
    renewalInformationSource: a.renewalInformationSource ?? "ARI",
    solvers: a.solvers ?? [],
  };
}
