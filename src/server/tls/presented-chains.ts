import { createHash } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";

/** At most this many certificates above a leaf are kept (the handshake's chain, as Node orders it). */
const MAX_ABOVE_LEAF = 8;

interface Entry {
  readonly above: Uint8Array[];
  connections: number;
}

/**
 * The certificate chains clients presented on open mTLS connections, by
 * their leaf. A workload renewing with its mesh certificate sends the
 * intermediates between its leaf and the mesh root in the handshake
 * (istio-agent sends its whole `cert-chain.pem`), but a call sees only the
 * leaf; the client-certificate check finds the rest here. Nothing here is
 * trusted: the check builds a path to the mesh roots from these certificates
 * and verifies every link. An entry lives while a connection that presented
 * its leaf is open.
 */
export class PresentedChains {
  readonly #byLeaf = new Map<string, Entry>();

  /** Records the chain `socket` presented, until it closes. A socket without a client certificate is ignored. */
  track(socket: TLSSocket): void {
    const peer = socket.getPeerCertificate(true);
    if (peer?.raw === undefined) return;
    const key = keyOf(peer.raw);
    const above: Uint8Array[] = [];
    const seen = new Set([key]);
    // Node links the presented certificates by issuer (self-signed ones point at themselves).
    for (
      let c: DetailedPeerCertificate | undefined = peer.issuerCertificate;
      c?.raw !== undefined && above.length < MAX_ABOVE_LEAF;
      c = c.issuerCertificate
    ) {
      const k = keyOf(c.raw);
      if (seen.has(k)) break;
      seen.add(k);
      above.push(new Uint8Array(c.raw));
    }
    const entry = this.#byLeaf.get(key);
    if (entry === undefined) this.#byLeaf.set(key, { above, connections: 1 });
    else {
      entry.connections++;
      // Another connection may have sent other intermediates for the same leaf: keep both.
      const known = new Set(entry.above.map((d) => keyOf(d)));
      for (const d of above)
        if (!known.has(keyOf(d)) && entry.above.length < MAX_ABOVE_LEAF) entry.above.push(d);
    }
    socket.once("close", () => {
      const e = this.#byLeaf.get(key);
      if (e !== undefined && --e.connections === 0) this.#byLeaf.delete(key);
    });
  }

  /** The certificates presented above `leafDer` on open connections (DER, untrusted); empty when none. */
  above(leafDer: Uint8Array): readonly Uint8Array[] {
    return this.#byLeaf.get(keyOf(leafDer))?.above ?? [];
  }

  /** Leaves with an open connection (tests). */
  get size(): number {
    return this.#byLeaf.size;
  }
}

function keyOf(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("base64");
}
