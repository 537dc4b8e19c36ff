import { createServer, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttp01Solver, type Http01Solver, selfCheck } from "../../src/acme/index.js";
import { tokenFromPath } from "../../src/acme/solvers/http01.js";
import { isMeshsignError, type MeshsignError } from "../../src/errors/index.js";

const TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const KEY_AUTH = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
const BROKEN = "brokenbrokenbrokenbrokenbroken";

let solver: Http01Solver;
let port: number;

function get(path: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  solver = createHttp01Solver({
    lookup: (token) => {
      if (token === BROKEN) throw new Error("store down");
      return token === TOKEN ? KEY_AUTH : undefined;
    },
  });
  port = (await solver.listen(0, "127.0.0.1")).port;
});

afterAll(async () => {
  await solver.close();
});

describe("the HTTP-01 solver listener", () => {
  it("answers a known token with its key authorization as text/plain", async () => {
    const res = await get(`/.well-known/acme-challenge/${TOKEN}`);
    expect(res).toEqual({ status: 200, body: KEY_AUTH });
  });

  it.each([
    ["an unknown token", "/.well-known/acme-challenge/AAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    ["a token with a dot", `/.well-known/acme-challenge/${TOKEN}.x`],
    ["a token with percent-encoding", `/.well-known/acme-challenge/%2e%2e%2f${TOKEN}`],
    ["a token shorter than 128 bits", "/.well-known/acme-challenge/abc"],
    ["a nested path", `/.well-known/acme-challenge/${TOKEN}/x`],
    ["the bare prefix", "/.well-known/acme-challenge/"],
    ["any other path", "/"],
    ["a traversal attempt", `/.well-known/acme-challenge/../${TOKEN}`],
  ])("answers 404 with an empty body for %s", async (_name, path) => {
    expect(await get(path)).toEqual({ status: 404, body: "" });
  });

  it("answers 405 to other methods on a challenge path", async () => {
    expect((await get(`/.well-known/acme-challenge/${TOKEN}`, "POST")).status).toBe(405);
    expect((await get(`/.well-known/acme-challenge/${TOKEN}`, "DELETE")).status).toBe(405);
  });

  it("passes the lookup the Host without port, lower-cased, so it can answer only for the challenge's name", async () => {
    const hosts: (string | undefined)[] = [];
    const other = createHttp01Solver({
      lookup: (token, host) => {
        hosts.push(host);
        return host === "app.example.com" ? `${token}.thumb` : undefined;
      },
    });
    const p = (await other.listen(0, "127.0.0.1")).port;
    const fetchWithHost = (host: string) =>
      new Promise<number>((resolve) => {
        request(
          { host: "127.0.0.1", port: p, path: `/.well-known/acme-challenge/${TOKEN}`, headers: { host } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        ).end();
      });
    try {
      expect(await fetchWithHost("App.Example.com:8089")).toBe(200);
      expect(await fetchWithHost("other.example.com")).toBe(404);
      expect(hosts).toEqual(["app.example.com", "other.example.com"]);
    } finally {
      await other.close();
    }
  });

  it("answers HEAD without a body", async () => {
    expect(await get(`/.well-known/acme-challenge/${TOKEN}`, "HEAD")).toEqual({ status: 200, body: "" });
  });

  it("answers 503, never 200, when the lookup fails", async () => {
    expect(await get(`/.well-known/acme-challenge/${BROKEN}`)).toEqual({ status: 503, body: "" });
  });

  it("never serves a key authorization that is not for the token asked", async () => {
    const other = createHttp01Solver({ lookup: () => KEY_AUTH });
    const p = (await other.listen(0, "127.0.0.1")).port;
    try {
      const status = await new Promise<number>((resolve) => {
        request(
          { host: "127.0.0.1", port: p, path: "/.well-known/acme-challenge/BBBBBBBBBBBBBBBBBBBBBBBBBB" },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        ).end();
      });
      expect(status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it.each([
    [`/.well-known/acme-challenge/${TOKEN}`, TOKEN],
    [`/.well-known/acme-challenge/${TOKEN}?x=1`, TOKEN],
    ["/.well-known/acme-challenge/a+b", undefined],
    ["/.well-known/acme-challenge", undefined],
    [undefined, undefined],
  ])("reads the token of %s as %s", (path, token) => {
    expect(tokenFromPath(path)).toBe(token);
  });
});

describe("HTTP-01 for an IPv6 address identifier (RFC 8738)", () => {
  it("is self-checked at http://[address]/ and answered for the address as the CA names it", async () => {
    const hosts: (string | undefined)[] = [];
    const v6 = createHttp01Solver({
      lookup: (token, host) => {
        hosts.push(host);
        return token === TOKEN && host === "::1" ? KEY_AUTH : undefined;
      },
    });
    const p = (await v6.listen(0, "::1")).port;
    try {
      await expect(
        selfCheck({ dnsName: "::1", token: TOKEN, keyAuthorization: KEY_AUTH, port: p }),
      ).resolves.toBeUndefined();
      expect(hosts).toEqual(["::1"]);
    } finally {
      await v6.close();
    }
  });
});

describe("the HTTP-01 self-check", () => {
  it("passes when the URL the CA will fetch serves the key authorization", async () => {
    await expect(
      selfCheck({
        dnsName: "app.example.com",
        token: TOKEN,
        keyAuthorization: KEY_AUTH,
        port,
        connectAddress: "127.0.0.1",
      }),
    ).resolves.toBeUndefined();
  });

  it("fails, transiently and saying what it saw, on a 404", async () => {
    const err = await selfCheck({
      dnsName: "app.example.com",
      token: "CCCCCCCCCCCCCCCCCCCCCCCCCCCC",
      keyAuthorization: "CCCCCCCCCCCCCCCCCCCCCCCCCCCC.x",
      port,
      connectAddress: "127.0.0.1",
    }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_SELF_CHECK")).toBe(true);
    expect((err as MeshsignError).retry).toBe("transient");
    expect((err as MeshsignError).message).toContain("HTTP 404");
  });

  it("fails when the body is another key authorization", async () => {
    const err = await selfCheck({
      dnsName: "app.example.com",
      token: TOKEN,
      keyAuthorization: `${TOKEN}.another-thumbprint`,
      port,
      connectAddress: "127.0.0.1",
    }).catch((e: unknown) => e);
    expect((err as MeshsignError).message).toContain("not the key authorization");
  });

  it("fails naming the network error when nothing listens (hairpin NAT, firewall)", async () => {
    const err = await selfCheck({
      dnsName: "app.example.com",
      token: TOKEN,
      keyAuthorization: KEY_AUTH,
      port: 1,
      connectAddress: "127.0.0.1",
    }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_SELF_CHECK")).toBe(true);
    expect((err as MeshsignError).message).toContain("ECONNREFUSED");
  });

  it("follows a redirect as the CA does", async () => {
    const redirector: Server = createServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${port}/.well-known/acme-challenge/${TOKEN}` });
      res.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    try {
      await expect(
        selfCheck({
          dnsName: "app.example.com",
          token: TOKEN,
          keyAuthorization: KEY_AUTH,
          port: (redirector.address() as AddressInfo).port,
          connectAddress: "127.0.0.1",
        }),
      ).resolves.toBeUndefined();
    } finally {
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  it("fails transiently, saying so, on a redirect whose Location is not a URL", async () => {
    const redirector: Server = createServer((_req, res) => {
      res.writeHead(302, { location: "http://[::1" });
      res.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    try {
      const err = await selfCheck({
        dnsName: "app.example.com",
        token: TOKEN,
        keyAuthorization: KEY_AUTH,
        port: (redirector.address() as AddressInfo).port,
        connectAddress: "127.0.0.1",
      }).catch((e: unknown) => e);
      expect(isMeshsignError(err, "ERR_ACME_SELF_CHECK")).toBe(true);
      expect((err as MeshsignError).retry).toBe("transient");
      expect((err as MeshsignError).message).toContain("a redirect to a Location that is not a URL");
    } finally {
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  const stalls: Array<[string, (res: ServerResponse) => () => void]> = [
    [
      "headers, then nothing",
      (res) => {
        res.writeHead(200, { "content-length": "100" });
        res.write(TOKEN.slice(0, 5));
        return () => undefined;
      },
    ],
    [
      "a byte every 50 ms, never idle and never done",
      (res) => {
        res.writeHead(200);
        const timer = setInterval(() => res.write(" "), 50);
        return () => clearInterval(timer);
      },
    ],
  ];
  for (const [name, answer] of stalls) {
    it(`fails, transiently and within its deadline, on a server that sends ${name}`, async () => {
      const stops: Array<() => void> = [];
      const staller: Server = createServer((_req, res) => {
        stops.push(answer(res));
      });
      await new Promise<void>((resolve) => staller.listen(0, "127.0.0.1", resolve));
      try {
        const err = await selfCheck({
          dnsName: "app.example.com",
          token: TOKEN,
          keyAuthorization: KEY_AUTH,
          port: (staller.address() as AddressInfo).port,
          connectAddress: "127.0.0.1",
          timeoutMs: 300,
        }).catch((e: unknown) => e);
        expect(isMeshsignError(err, "ERR_ACME_SELF_CHECK")).toBe(true);
        expect((err as MeshsignError).retry).toBe("transient");
        expect((err as MeshsignError).message).toBe(
          "self check of http-01 for app.example.com failed: no complete answer within 300 ms (connect, headers and body)",
        );
      } finally {
        for (const stop of stops) stop();
        staller.closeAllConnections();
        await new Promise((resolve) => staller.close(resolve));
      }
    });
  }

  it("refuses a malformed token before fetching anything", async () => {
    const err = await selfCheck({ dnsName: "a.example.com", token: "../x", keyAuthorization: "x" }).catch(
      (e: unknown) => e,
    );
    expect(isMeshsignError(err, "ERR_ACME_PROTOCOL")).toBe(true);
  });
});
