/**
 * The anti-replay nonce pool (RFC 8555 §6.5). Every response carries a fresh
 * `Replay-Nonce`; the pool keeps a few so most requests need no extra
 * `newNonce` round trip. Nonces are single-use: `take` removes one.
 */
import { MeshsignError } from "../errors/index.js";

// RFC 8555 §6.5.1: base64url, no padding.
const NONCE = /^[A-Za-z0-9_-]{1,256}$/;
const DEFAULT_CAPACITY = 16;

export class NoncePool {
  private readonly nonces: string[] = [];

  /** `fetchNonce` asks the server's newNonce URL for one. */
  constructor(
    private readonly fetchNonce: () => Promise<string | undefined>,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  /** A nonce not used before: a pooled one, else a fresh one from the server. */
  async take(): Promise<string> {
    const pooled = this.nonces.pop();
    if (pooled !== undefined) return pooled;
    const fresh = await this.fetchNonce();
    if (fresh === undefined || !NONCE.test(fresh))
      throw new MeshsignError(
        "ERR_ACME_PROTOCOL",
        "ACME server returned no valid Replay-Nonce from newNonce",
        {
          retry: "transient",
        },
      );
    return fresh;
  }

  /** Keeps a Replay-Nonce from a response (ignored when malformed or the pool is full). */
  put(nonce: string | undefined): void {
    if (nonce === undefined || !NONCE.test(nonce)) return;
    if (this.nonces.length >= this.capacity) this.nonces.shift();
    this.nonces.push(nonce);
  }

  get size(): number {
    return this.nonces.length;
  }
}
