import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { AcmeClientMetrics, acmeMetricPath } from "../../src/acme/index.js";

describe("acmeMetricPath", () => {
  const cases: Record<string, [string, string]> = {
    "a directory path is kept": ["/directory", "/directory"],
    "Let's Encrypt's order path keeps its first two segments": ["/acme/order/123456/7890", "/acme/order"],
    "Let's Encrypt's authorization path loses its id": ["/acme/authz-v3/98765", "/acme/authz-v3"],
    "a challenge path loses its id and token": ["/acme/chall-v3/98765/AbCd12", "/acme/chall-v3"],
    "ARI's renewalInfo path loses the certificate id": [
      "/draft-ietf-acme-ari-03/renewalInfo/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
      "/draft-ietf-acme-ari-03/renewalInfo",
    ],
    "a numeric second segment is an id": ["/acct/12345", "/acct/{id}"],
    "Pebble's short order path has its random id collapsed": [
      "/my-order/Xq3vB9LmT0aPz7Kc1RwE5yHd",
      "/my-order/{id}",
    ],
    "a long lower-case hex id is collapsed": ["/cert/3f9a0c1b2d4e5f60718293a4", "/cert/{id}"],
    "a long lower-case word with hyphens is not an id": ["/rollover-account-key", "/rollover-account-key"],
    "ZeroSSL's path keeps its version and product segments": ["/v2/DV90/newOrder", "/v2/DV90"],
  };
  for (const [name, [path, want]] of Object.entries(cases)) {
    it(name, () => expect(acmeMetricPath(path)).toBe(want));
  }
});

describe("AcmeClientMetrics", () => {
  it("counts and times each request under cert-manager's names and labels", async () => {
    const registry = new Registry();
    const metrics = new AcmeClientMetrics(registry);
    const base = { scheme: "https", host: "acme.example.com:14000", method: "POST" } as const;
    metrics.observe({ ...base, path: "/acme/order/1/2", status: "201", durationSeconds: 0.25 });
    metrics.observe({ ...base, path: "/acme/order/3/4", status: "201", durationSeconds: 0.75 });
    metrics.observe({
      ...base,
      path: "/acme/new-nonce",
      method: "HEAD",
      status: "error",
      durationSeconds: 0.1,
    });

    const text = await registry.metrics();
    const labels =
      'scheme="https",host="acme.example.com:14000",path="/acme/order",method="POST",status="201"';
    expect(text).toContain("# TYPE certmanager_http_acme_client_request_count counter");
    expect(text).toContain(`certmanager_http_acme_client_request_count{${labels}} 2`);
    expect(text).toContain("# TYPE certmanager_http_acme_client_request_duration_seconds summary");
    expect(text).toContain(`certmanager_http_acme_client_request_duration_seconds_sum{${labels}} 1`);
    expect(text).toContain(`certmanager_http_acme_client_request_duration_seconds_count{${labels}} 2`);
    expect(text).toMatch(/certmanager_http_acme_client_request_duration_seconds\{quantile="0\.99",/);
    expect(text).toContain(
      'certmanager_http_acme_client_request_count{scheme="https",host="acme.example.com:14000",path="/acme/new-nonce",method="HEAD",status="999"} 1',
    );
  });

  it("can be passed as the transport's observe hook without binding", () => {
    const metrics = new AcmeClientMetrics(new Registry());
    const { observe } = metrics;
    expect(() =>
      observe({ scheme: "https", host: "h", path: "/", method: "GET", status: "200", durationSeconds: 0 }),
    ).not.toThrow();
  });
});
