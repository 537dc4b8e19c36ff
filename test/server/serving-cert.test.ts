/**
 * meshsign's serving certificate while it waits for the engine: a signing issuer that is not ready
 * (a Vault that is down when meshsign starts) holds start-up, so the wait must say why, in the log
 * and on /readyz, rather than "waiting for the serving certificate" alone.
 */
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { CERTIFICATE_NAME } from "../../src/api/annotations.js";
import { CERTIFICATE_REQUESTS } from "../../src/api/types.js";
import { SERVING_CERTIFICATE, ServingCertificate } from "../../src/server/serving-cert.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject } from "../../src/store/types.js";

function logSink(): { lines: Record<string, unknown>[]; log: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n").filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: "info" }, sink) };
}

const NOT_READY =
  "Referenced issuer is not ready: VaultError: Vault health check failed: Vault's host name does not resolve";

function request(conditions: object[]): KubeObject {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "CertificateRequest",
    metadata: {
      name: `${SERVING_CERTIFICATE}-1`,
      namespace: "meshsign-system",
      annotations: { [CERTIFICATE_NAME]: SERVING_CERTIFICATE },
    },
    spec: { request: "", issuerRef: { name: "vault", kind: "ClusterIssuer", group: "cert-manager.io" } },
    status: { conditions },
  } as KubeObject;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("the serving certificate, before the engine has issued it", () => {
  it("says why its request is not issued, once per reason, in the log and as the readiness reason", async () => {
    const store = new MemoryStore();
    const { lines, log } = logSink();
    const serving = new ServingCertificate({
      store,
      namespace: "meshsign-system",
      dnsNames: ["localhost"],
      ipAddresses: [],
      durationMs: 3_600_000,
      issuerRef: { name: "vault", kind: "ClusterIssuer", group: "cert-manager.io" },
      log,
    });
    void serving.start();
    await settle();
    expect(serving.waitingReason()).toBeUndefined();

    const created = await store.create(CERTIFICATE_REQUESTS, request([]));
    const pending = { type: "Ready", status: "False", reason: "Pending", message: NOT_READY };
    const updated = await store.updateStatus(CERTIFICATE_REQUESTS, {
      ...created,
      status: { conditions: [pending] },
    } as KubeObject);
    await store.updateStatus(CERTIFICATE_REQUESTS, {
      ...updated,
      status: { conditions: [{ ...pending }] },
    } as KubeObject);
    await settle();

    expect(serving.waitingReason()).toBe(NOT_READY);
    const said = lines.filter((l) => l.msg === "the serving certificate is not issued yet");
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({
      level: 40,
      reason: NOT_READY,
      request: "meshsign-system/meshsign-serving-1",
    });
    serving.stop();
  });
});
