import type { KeyObject } from "node:crypto";
import {
  authenticateChain,
  type Authenticator,
  type AuthnInput,
  type Caller,
} from "../../../src/authn/index.js";
import { createSvidPolicy, type SvidPolicyOptions } from "../../../src/csr-service/policy.js";
import { isMeshsignError } from "../../../src/errors/index.js";
import { buildCsr, type CsrOptions, generateKeySync } from "../../../src/pki/keys.js";

/** istio-csr's `mockAuthenticator`: fails with `errMsg` when set, else returns `identities`. */
export function mockAuthn(identities: string[] | undefined, errMsg: string): Authenticator {
  return {
    name: "mock",
    authenticate: async (): Promise<Caller> => {
      if (errMsg.length > 0) throw new Error(errMsg);
      return { identities: identities ?? [], source: "jwks" };
    },
  };
}

export const POLICY_DEFAULTS: SvidPolicyOptions = {
  trustDomain: "cluster.local",
  maxDurationMs: 3_600_000,
  defaultDurationMs: 3_600_000,
  maxCsrBytes: 16 * 1024,
  keyTypes: ["rsa", "ecdsa-p256", "ecdsa-p384", "ed25519"],
  trustedNodeAccounts: [],
};

const KEY: KeyObject = generateKeySync({ type: "ec", curve: "P-256" });

/** istio-csr's `gen.MustCSR` with the given options: a CSR for the identities as URI SANs. */
export function mustCsr(options: CsrOptions & { commonName?: string }): string {
  const { commonName, ...rest } = options;
  return buildCsr(KEY, {
    ...rest,
    ...(commonName === undefined ? {} : { subject: [[{ type: "2.5.4.3", value: commonName }]] }),
  });
}

/**
 * What meshsign's CreateCertificate path decides for a caller and a CSR:
 * authenticate with `authenticators` (in order), then the SVID policy. Returns
 * the identity the leaf would carry, or the refusal's code and message.
 */
export async function decide(
  authenticators: readonly Authenticator[],
  csrPem: string,
  options: Partial<SvidPolicyOptions> & { input?: AuthnInput; validityDurationSeconds?: bigint } = {},
): Promise<{ identity?: string; durationMs?: number; code?: string; message?: string }> {
  const { input, validityDurationSeconds, ...policyOptions } = options;
  try {
    const caller = await authenticateChain(authenticators, input ?? { authorization: [], clusterId: [] });
    const now = Date.now();
    const authorized = await createSvidPolicy({ ...POLICY_DEFAULTS, ...policyOptions })({
      caller,
      csrPem,
      validityDurationSeconds: validityDurationSeconds ?? 0n,
      impersonatedIdentity: undefined,
      now,
    });
    return { identity: authorized.identity, durationMs: authorized.template.notAfter.getTime() - now };
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}
