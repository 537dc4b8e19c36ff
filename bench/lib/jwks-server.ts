/**
 * Serves a JWKS file over HTTP on loopback, for a verifier that fetches its keys from a URL
 * (Istio's JWT authenticator: go-oidc's remote key set) where meshsign reads the same file.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface JwksServer {
  readonly url: string;
  /** Requests answered so far (a verifier that caches keys fetches once). */
  fetches(): number;
  close(): Promise<void>;
}

export async function serveJwks(jwksFile: string): Promise<JwksServer> {
  const body = readFileSync(jwksFile);
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    fetches: () => fetches,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
