/**
 * CreateCertificate workers sign through the primary when the workload
 * issuer is remote (Vault). The primary holds the one Vault issuer instance:
 * one login and one token for the whole process tree, one circuit breaker
 * and one in-flight bound that every worker's callers share (an outage is
 * learnt once, not once per worker), and the same health the Issuer's Ready
 * condition reports. Workers keep their CPU work: authentication, the CSR
 * policy and checking what came back against the mesh roots.
 *
 * This module is the wire codec of one signature over the cluster IPC
 * channel (JSON: Dates and bytes travel as numbers and base64) and the
 * worker's proxy {@link Issuer}.
 */
import { type ErrorCode, MeshsignError, type Retry, toMeshsignError } from "../errors/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "../issuers/issuer.js";
import type { CertificateTemplate } from "../pki/index.js";

/** A CertificateTemplate as JSON. */
export interface WireTemplate
  extends Omit<CertificateTemplate, "publicKeySpki" | "notBefore" | "notAfter" | "serialNumber"> {
  readonly publicKeySpki: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serialNumber?: string;
}

export interface SignCall {
  readonly type: "sign";
  readonly id: number;
  readonly requestId: string;
  readonly csrPem: string;
  readonly template: WireTemplate;
  /** The worker checks the leaf against the mesh roots itself (SignRequest.leafCheckedByCaller). */
  readonly leafCheckedByCaller?: boolean;
}

export type SignAnswer =
  | { readonly type: "signed"; readonly id: number; readonly ok: true; readonly result: SignResult }
  | {
      readonly type: "signed";
      readonly id: number;
      readonly ok: false;
      readonly error: {
        readonly code: ErrorCode;
        readonly message: string;
        readonly retry: Retry;
        readonly detail: Readonly<Record<string, unknown>>;
      };
    };

export function encodeTemplate(t: CertificateTemplate): WireTemplate {
  const { publicKeySpki, notBefore, notAfter, serialNumber, ...rest } = t;
  return {
    ...rest,
    publicKeySpki: Buffer.from(publicKeySpki).toString("base64"),
    notBefore: notBefore.getTime(),
    notAfter: notAfter.getTime(),
    ...(serialNumber !== undefined ? { serialNumber: Buffer.from(serialNumber).toString("base64") } : {}),
  };
}

export function decodeTemplate(w: WireTemplate): CertificateTemplate {
  const { publicKeySpki, notBefore, notAfter, serialNumber, ...rest } = w;
  return {
    ...rest,
    publicKeySpki: new Uint8Array(Buffer.from(publicKeySpki, "base64")),
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    ...(serialNumber !== undefined
      ? { serialNumber: new Uint8Array(Buffer.from(serialNumber, "base64")) }
      : {}),
  };
}

/** Detail keys a worker may see (retry hints and the failed check); the rest stays in the primary's log. */
const SAFE_DETAIL = ["retryAfterMs", "check", "circuit"] as const;

/** The primary's side: signs one worker call with `issuer` and builds the answer. Never throws. */
export async function answerSignCall(issuer: Issuer, call: SignCall): Promise<SignAnswer> {
  try {
    const result = await issuer.sign({
      requestId: call.requestId,
      csrPem: call.csrPem,
      template: decodeTemplate(call.template),
      ...(call.leafCheckedByCaller === true ? { leafCheckedByCaller: true } : {}),
    });
    return { type: "signed", id: call.id, ok: true, result };
  } catch (err) {
    const e = toMeshsignError(err);
    const detail: Record<string, unknown> = {};
    for (const k of SAFE_DETAIL) if (e.detail[k] !== undefined) detail[k] = e.detail[k];
    return {
      type: "signed",
      id: call.id,
      ok: false,
      error: { code: e.code, message: e.message, retry: e.retry, detail },
    };
  }
}

/**
 * The worker's side: an Issuer whose `sign` asks the primary. A call the
 * primary has not answered within `timeoutMs` (it is busy or gone) is
 * refused as UNAVAILABLE; the primary's own deadline is shorter, so this only
 * catches a stuck primary.
 */
export class PrimarySigner implements Issuer {
  readonly kind: string;
  readonly #send: (call: SignCall) => void;
  readonly #timeoutMs: number;
  readonly #pending = new Map<
    number,
    { resolve: (r: SignResult) => void; reject: (e: MeshsignError) => void; timer: NodeJS.Timeout }
  >();
  #next = 1;

  constructor(options: { kind: string; send: (call: SignCall) => void; timeoutMs: number }) {
    this.kind = options.kind;
    this.#send = options.send;
    this.#timeoutMs = options.timeoutMs;
  }

  status(): IssuerStatus {
    return { ready: true, reason: "SignedByPrimary", message: "signed through the primary process" };
  }

  sign(request: SignRequest): Promise<SignResult> {
    const id = this.#next++;
    return new Promise<SignResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new MeshsignError(
            "ERR_ISSUER_UNAVAILABLE",
            `the primary process did not answer within ${this.#timeoutMs} ms`,
            { retry: "transient", detail: { requestId: request.requestId } },
          ),
        );
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send({
        type: "sign",
        id,
        requestId: request.requestId,
        csrPem: request.csrPem,
        template: encodeTemplate(request.template),
        ...(request.leafCheckedByCaller === true ? { leafCheckedByCaller: true } : {}),
      });
    });
  }

  /** Delivers the primary's answer to the waiting call. */
  answer(a: SignAnswer): void {
    const p = this.#pending.get(a.id);
    if (p === undefined) return;
    this.#pending.delete(a.id);
    clearTimeout(p.timer);
    if (a.ok) p.resolve(a.result);
    else
      p.reject(
        new MeshsignError(a.error.code, a.error.message, { retry: a.error.retry, detail: a.error.detail }),
      );
  }

  /** Refuses every waiting call (the worker is stopping or the primary is gone). */
  close(): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(
        new MeshsignError("ERR_ISSUER_UNAVAILABLE", "the signing process is stopping", {
          retry: "transient",
        }),
      );
      this.#pending.delete(id);
    }
  }
}
