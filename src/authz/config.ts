/** What the CSR authorization accepts; validated once at start-up by the server's config layer. */

/** Which CSR keys are acceptable (issue 2: RSA >= 2048, ECDSA P-256/P-384 or Ed25519, configurable). */
export interface KeyPolicy {
  /** Smallest RSA modulus accepted, in bits. Default 2048. */
  readonly rsaMinBits: number;
  /** Largest RSA modulus accepted, in bits (bounds verification cost). Default 8192. */
  readonly rsaMaxBits: number;
  /** Accepted ECDSA curves. Default P-256 and P-384 (what istio-agent and ztunnel use). */
  readonly ecCurves: readonly ("P-256" | "P-384" | "P-521")[];
  /** Whether Ed25519 keys are accepted. Default true. */
  readonly ed25519: boolean;
}

export const DEFAULT_KEY_POLICY: KeyPolicy = {
  rsaMinBits: 2048,
  rsaMaxBits: 8192,
  ecCurves: ["P-256", "P-384"],
  ed25519: true,
};

export interface CsrPolicy {
  readonly keys: KeyPolicy;
  /**
   * Subject attributes other than commonName: when false (default), they are
   * ignored, as istio-csr does, since the issued leaf never copies the CSR's
   * subject (it is built from the authenticated identity with an empty
   * subject). When true, only an empty subject or istio-agent's single `O=""`
   * is accepted.
   */
  readonly strictSubject: boolean;
}

export const DEFAULT_CSR_POLICY: CsrPolicy = { keys: DEFAULT_KEY_POLICY, strictSubject: false };
