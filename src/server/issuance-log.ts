/** One issued workload certificate, as the admin API lists it. Never keys or CSRs. */
export interface IssuanceRecord {
  readonly identity: string;
  /** Hex serial of the leaf. */
  readonly serial: string;
  /** Milliseconds since the epoch. */
  readonly notAfter: number;
  readonly issuedAt: number;
  readonly keyAlgorithm: string;
}

/** A bounded ring of the most recent issuances (memory stays flat under load). */
export class IssuanceLog {
  private readonly ring: (IssuanceRecord | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 1000) {
    this.ring = new Array(capacity);
  }

  add(record: IssuanceRecord): void {
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Newest first, at most `limit`. */
  recent(limit: number): IssuanceRecord[] {
    const n = Math.min(limit, this.count);
    const out: IssuanceRecord[] = [];
    for (let i = 1; i <= n; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (r) out.push(r);
    }
    return out;
  }
}
