import http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeshsignError } from "../../src/errors/index.js";
import { keepAliveTokenReviewer } from "../../src/server/kube-token-reviewer.js";

describe("keepAliveTokenReviewer", () => {
  let server: http.Server;
  let url = "";
  let connections = 0;
  let answer: { status: number; body: unknown } = { status: 201, body: {} };
  const bodies: unknown[] = [];
  const authorizations: (string | undefined)[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        authorizations.push(req.headers.authorization);
        const body =
          answer.status === 201 ? { ...(bodies.at(-1) as object), status: answer.body } : answer.body;
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      });
    });
    server.on("connection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: url, skipTLSVerify: true }],
      users: [{ name: "meshsign", token: "meshsign-sa-token" }],
      contexts: [{ name: "test", cluster: "test", user: "meshsign" }],
      currentContext: "test",
    });
    return kc;
  }

  it("reviews many tokens over one kept-alive connection with meshsign's credentials", async () => {
    answer = {
      status: 201,
      body: {
        authenticated: true,
        user: { username: "system:serviceaccount:foo:bar" },
        audiences: ["istio-ca"],
      },
    };
    const reviewer = keepAliveTokenReviewer(kubeConfig());
    const before = connections;
    for (let i = 0; i < 5; i++) {
      const status = await reviewer.review(`token-${i}`, ["istio-ca"]);
      expect(status).toMatchObject({
        authenticated: true,
        user: { username: "system:serviceaccount:foo:bar" },
      });
    }
    expect(connections - before).toBe(1);
    expect(bodies.at(-1)).toEqual({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token: "token-4", audiences: ["istio-ca"] },
    });
    expect(authorizations.at(-1)).toBe("Bearer meshsign-sa-token");
  });

  it("maps a 403 from the API server to a transient failure naming the status, not the token", async () => {
    answer = {
      status: 403,
      body: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Forbidden", code: 403 },
    };
    const err = await keepAliveTokenReviewer(kubeConfig())
      .review("secret-token", ["istio-ca"])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(MeshsignError);
    expect((err as MeshsignError).code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect((err as MeshsignError).retry).toBe("transient");
    expect((err as MeshsignError).detail).toEqual({ status: 403 });
    expect(JSON.stringify((err as MeshsignError).detail) + (err as MeshsignError).message).not.toContain(
      "secret-token",
    );
  });
});
