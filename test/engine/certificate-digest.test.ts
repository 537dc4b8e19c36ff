import { describe, expect, it } from "vitest";
import type { Certificate } from "../../src/engine/lib/api.js";
import { changedFromOutside, digestCertificate } from "../../src/engine/lib/certificate-digest.js";

const base: Certificate = {
  apiVersion: "cert-manager.io/v1",
  kind: "Certificate",
  metadata: { name: "web", namespace: "apps", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z", labels: { a: "1" }, annotations: { b: "2" } },
  spec: { secretName: "web-tls", dnsNames: ["web.example"], issuerRef: { name: "ca", kind: "ClusterIssuer" } },
  status: { conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "ok" }] },
};

const issuing = (reason: string): Certificate["status"] => ({ conditions: [{ type: "Issuing", status: "True", reason, message: "m" }] });

describe("changedFromOutside", () => {
  it.each<{ name: string; next: Certificate; want: boolean }>([
    { name: "a status-only write (the engine's own) needs no reconcile", next: { ...base, status: { conditions: [], revision: 2 } }, want: false },
    { name: "a new resourceVersion alone needs no reconcile", next: { ...base, metadata: { ...base.metadata, resourceVersion: "9" } }, want: false },
    { name: "a spec change needs a reconcile", next: { ...base, spec: { ...base.spec, dnsNames: ["other.example"] } }, want: true },
    { name: "a label change needs a reconcile", next: { ...base, metadata: { ...base.metadata, labels: { a: "2" } } }, want: true },
    { name: "an annotation change needs a reconcile", next: { ...base, metadata: { ...base.metadata, annotations: {} } }, want: true },
    { name: "a generation bump needs a reconcile", next: { ...base, metadata: { ...base.metadata, generation: 2 } }, want: true },
    { name: "a deletion needs a reconcile", next: { ...base, metadata: { ...base.metadata, deletionTimestamp: "2026-01-02T00:00:00Z" } }, want: true },
    { name: "Issuing=True set from outside (cmctl renew) needs a reconcile", next: { ...base, status: issuing("ManuallyTriggered") }, want: true },
  ])("$name", ({ next, want }) => {
    expect(changedFromOutside(digestCertificate(base), digestCertificate(next))).toBe(want);
  });

  it("Issuing=True kept with the same reason needs no reconcile", () => {
    const prev = { ...base, status: issuing("Renewing") };
    expect(changedFromOutside(digestCertificate(prev), digestCertificate({ ...prev, status: { ...issuing("Renewing"), revision: 3 } }))).toBe(false);
  });

  it("keeps the fields the secret-ownership check sorts by", () => {
    expect(digestCertificate(base)).toMatchObject({ name: "web", namespace: "apps", creationTimestamp: "2026-01-01T00:00:00Z", deletionTimestamp: undefined, secretName: "web-tls" });
  });
});
