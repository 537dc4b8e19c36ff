/**
 * A minimal client of meshsign's admin API for the benchmark: Connect unary
 * calls with JSON bodies over HTTPS (HTTP/1.1, kept alive), verified against
 * the data dir's root, with the admin bearer token.
 */
import { Agent, request } from "node:https";

export class AdminClient {
  readonly #agent: Agent;

  constructor(
    private readonly address: string,
    rootsPem: string,
    private readonly token: string,
  ) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: 16, ca: rootsPem, servername: "localhost" });
  }

  /** Calls `meshsign.admin.v1.AdminService/<method>`; rejects on a non-200 answer. */
  call<T = unknown>(method: string, body: unknown): Promise<T> {
    const [host, port] = [
      this.address.slice(0, this.address.lastIndexOf(":")),
      Number(this.address.slice(this.address.lastIndexOf(":") + 1)),
    ];
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          method: "POST",
          path: `/meshsign.admin.v1.AdminService/${method}`,
          agent: this.#agent,
          headers: {
            "content-type": "application/json",
            "content-length": payload.length,
            authorization: `Bearer ${this.token}`,
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200)
              reject(new Error(`${method}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
            else resolve(JSON.parse(text || "{}") as T);
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
