import type { CertificateTemplate } from "../pki/template.js";

/**
 * The one interface every signing backend implements (CA, SelfSigned, Vault,
 * ACME). The CSR service and the Certificate engine both sign through it and
 * share the same instances.
 *
 * It is asynchronous from the start: ACME orders take minutes and Vault can be
 * down. A backend answers one of three ways:
 * - resolves `{ status: "issued" }` with the chain;
 * - resolves `{ status: "pending" }`: call `sign` again with the same
 *   `requestId` later (the backend may have durable state keyed by it, so a
 *   request can stay pending across restarts);
 * - rejects with a MeshsignError whose `retry` says transient or terminal.
 */
export interface Issuer {
  /** The backend kind, e.g. "ca", "selfsigned", "vault", "acme". */
  readonly kind: string;
  /** Current readiness, as the Issuer's Ready condition reports it. */
  status(): IssuerStatus;
  sign(request: SignRequest, signal?: AbortSignal): Promise<SignResult>;
  /**
   * The CA's suggested renewal window for a certificate it issued (ACME ARI,
   * RFC 9773), or undefined when the backend has none. The engine renews at a
   * random point inside it when that comes before the spec's renewal time.
   * `retryAfterMs` is how long the CA asks to wait before asking again (it may
   * move the window, RFC 9773 §4.3).
   */
  renewalWindow?(
    leafPem: string,
  ): Promise<
    { readonly startMs: number; readonly endMs: number; readonly retryAfterMs?: number } | undefined
  >;
  /**
   * Backends whose readiness changes on its own (Vault sealed and unsealed)
   * report each change of {@link status} to `listener` until the returned
   * function is called. In-process backends do not implement it.
   */
  watchStatus?(listener: (status: IssuerStatus) => void): () => void;
  /** Releases timers and connections of an instance that was replaced. */
  close?(): void;
}

export interface IssuerStatus {
  readonly ready: boolean;
  /** CamelCase reason, e.g. "KeyPairVerified", "ErrGetKeyPair". */
  readonly reason: string;
  readonly message: string;
  /**
   * ACME issuers only: the account as cert-manager writes it to `status.acme`
   * (`uri`, `lastRegisteredEmail`, `lastPrivateKeyHash`).
   */
  readonly acme?: {
    readonly uri: string;
    readonly lastRegisteredEmail?: string;
    readonly lastPrivateKeyHash: string;
  };
}

export interface SignRequest {
  /**
   * Stable identifier of this request (a CertificateRequest's namespace/name,
   * or a per-call id on the hot path). Async backends key their state by it.
   */
  readonly requestId: string;
  /** The CSR exactly as received (PEM); remote backends forward it. */
  readonly csrPem: string;
  /** What to issue; in-process backends encode exactly this. */
  readonly template: CertificateTemplate;
  /**
   * Private key of the CSR, only for the SelfSigned backend (cert-manager
   * reads it from the Secret named by `cert-manager.io/private-key-secret-name`).
   */
  readonly privateKeyPem?: string;
  /**
   * The caller checks the leaf itself before anything uses it, as strictly as
   * the backend would (CreateCertificate checks every remote answer against
   * the mesh roots in the process that answers the workload). A remote
   * backend then checks only its CA certificates and leaves the leaf to the
   * caller, instead of checking it twice.
   */
  readonly leafCheckedByCaller?: boolean;
}

export type SignResult =
  | {
      readonly status: "issued";
      /** PEM certificates, one per element: the leaf first, then intermediates; no self-signed root. */
      readonly chain: readonly string[];
      /** PEM of the CA (root) certificate(s) when the backend knows them. */
      readonly ca?: string;
      /**
       * The leaf's notAfter as encoded (whole seconds), when the backend knows it without parsing
       * the leaf: an in-process CA may cut the template's short at its own expiry. Absent, a caller
       * that records what was issued reads it from the leaf.
       */
      readonly notAfter?: Date;
    }
  | {
      readonly status: "pending";
      /** CamelCase reason, e.g. "OrderPending". */
      readonly reason: string;
      readonly message: string;
      /** When to ask again; the caller may ask earlier on an event. */
      readonly retryAfterMs: number;
      /**
       * The backend only started the work (an ACME Order placed) and waits on nothing yet: the
       * request says so, the Certificate does not repeat it (its next answer says what it waits for).
       */
      readonly started?: boolean;
    };
