import type { JWTPayload } from "jose";
import { MeshsignError } from "../../errors/index.js";
import type { KubernetesInfo } from "../types.js";
import { isNamespaceName, isServiceAccountName, parseServiceAccountUsername } from "./kubernetes-names.js";

/**
 * Who a verified Kubernetes service-account token speaks for. Read from the
 * `kubernetes.io` claim (namespace, serviceaccount.name, pod.name/uid) and/or
 * `sub` = `system:serviceaccount:<ns>:<sa>`; at least one must be present, and
 * when both are they must name the same account.
 *
 * @throws MeshsignError ERR_TOKEN_CLAIMS naming the rule that failed.
 */
export function kubernetesInfoFromClaims(payload: JWTPayload): KubernetesInfo {
  const fromSub = payload.sub === undefined ? undefined : subjectAccount(payload.sub);
  const fromClaim =
    payload["kubernetes.io"] === undefined ? undefined : kubernetesClaim(payload["kubernetes.io"]);
  if (fromSub === undefined && fromClaim === undefined) {
    throw claimsError("token names no Kubernetes service account (no sub, no kubernetes.io claim)");
  }
  if (
    fromSub !== undefined &&
    fromClaim !== undefined &&
    (fromSub.namespace !== fromClaim.namespace || fromSub.serviceAccount !== fromClaim.serviceAccount)
  ) {
    throw claimsError("token subject and kubernetes.io claim name different service accounts");
  }
  return fromClaim ?? (fromSub as KubernetesInfo);
}

function subjectAccount(sub: string): KubernetesInfo {
  const account = typeof sub === "string" ? parseServiceAccountUsername(sub) : undefined;
  if (account === undefined) {
    throw claimsError("token subject is not system:serviceaccount:<namespace>:<service-account>");
  }
  return account;
}

function kubernetesClaim(value: unknown): KubernetesInfo {
  if (!isRecord(value)) throw claimsError("token kubernetes.io claim is not an object");
  const { namespace, serviceaccount, pod } = value;
  if (typeof namespace !== "string" || !isNamespaceName(namespace)) {
    throw claimsError("token kubernetes.io claim has no valid namespace");
  }
  if (
    !isRecord(serviceaccount) ||
    typeof serviceaccount.name !== "string" ||
    !isServiceAccountName(serviceaccount.name)
  ) {
    throw claimsError("token kubernetes.io claim has no valid serviceaccount.name");
  }
  const info: KubernetesInfo = { namespace, serviceAccount: serviceaccount.name };
  if (pod !== undefined) {
    if (!isRecord(pod) || typeof pod.name !== "string" || typeof pod.uid !== "string") {
      throw claimsError("token kubernetes.io claim has an invalid pod");
    }
    info.podName = pod.name;
    info.podUid = pod.uid;
  }
  return info;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function claimsError(message: string): MeshsignError {
  return new MeshsignError("ERR_TOKEN_CLAIMS", message);
}
