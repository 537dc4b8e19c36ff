import { createPublicKey, generateKeyPairSync } from "node:crypto";
import type { Logger } from "pino";
import type { Issuer } from "../issuers/issuer.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";

export interface ServingCertificateOptions {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly durationMs: number;
  readonly issuer: Issuer;
  readonly log: Logger;
  readonly clock?: () => number;
}

/**
 * meshsign's own TLS serving certificate, signed by the mesh CA so that
 * istio-agent verifies it against `istio-ca-root-cert`. A new key every time
 * (as istio-csr), renewed at 2/3 of its lifetime, retried every 20 s on
 * failure; each renewal is pushed to the listeners without a restart.
 */
export class ServingCertificate {
  #current: (ServingKeyPair & { notAfter: number }) | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<(pair: ServingKeyPair) => void>();
  readonly #clock: () => number;

  constructor(private readonly options: ServingCertificateOptions) {
    this.#clock = options.clock ?? Date.now;
  }

  /** Issues the first certificate (throws if the issuer cannot) and schedules renewals. */
  async start(): Promise<ServingKeyPair> {
    const pair = await this.issue();
    this.schedule(pair.notAfter);
    return pair;
  }

  get current(): ServingKeyPair | undefined {
    return this.#current;
  }

  /** True while a certificate is held that has not expired. */
  valid(): boolean {
    return this.#current !== undefined && this.#current.notAfter > this.#clock();
  }

  onRenew(listener: (pair: ServingKeyPair) => void): void {
    this.#listeners.add(listener);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  private schedule(notAfter: number): void {
    const now = this.#clock();
    const lifetime = notAfter - now;
    const delay = Math.max(1000, Math.floor((lifetime * 2) / 3));
    this.stop();
    this.#timer = setTimeout(() => this.renew(), Math.min(delay, 2 ** 31 - 1));
    this.#timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      const pair = await this.issue();
      for (const l of this.#listeners) l(pair);
      this.schedule(pair.notAfter);
    } catch (err) {
      this.options.log.error({ err }, "serving certificate renewal failed; retrying in 20s");
      this.#timer = setTimeout(() => this.renew(), 20_000);
      this.#timer.unref();
    }
  }

  private async issue(): Promise<ServingKeyPair & { notAfter: number }> {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
    const now = this.#clock();
    const result = await this.options.issuer.sign({
      requestId: `serving-${now}`,
      csrPem: "",
      template: {
        publicKeySpki: new Uint8Array(spki),
        dnsNames: this.options.dnsNames,
        ipAddresses: this.options.ipAddresses,
        isCA: false,
        keyUsage: ["digitalSignature"],
        extKeyUsage: ["serverAuth"],
        notBefore: new Date(now - 5 * 60_000),
        notAfter: new Date(now + this.options.durationMs),
      },
    });
    if (result.status !== "issued") throw new Error(`serving certificate is pending: ${result.message}`);
    const pair = {
      certificateChainPem: result.chain.join(""),
      privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      notAfter: now + this.options.durationMs,
    };
    this.#current = pair;
    this.options.log.info(
      { dnsNames: this.options.dnsNames, ipAddresses: this.options.ipAddresses, notAfter: new Date(pair.notAfter).toISOString() },
      "serving certificate issued",
    );
    return pair;
  }
}
