import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { claimedClusterId, extractBearerToken } from "../../../src/authn/index.js";
import { parseServiceAccountUsername } from "../../../src/authn/lib/kubernetes-names.js";
import { parseIstioSpiffeId, serviceAccountSpiffeId } from "../../../src/authn/lib/spiffe.js";
import { unverifiedExpiry } from "../../../src/authn/lib/unverified-exp.js";
import { isMeshsignError } from "../../../src/errors/index.js";

const nameChars = fc.constantFrom(..."abcz019-.:/_ A%".split(""));
const looseName = fc.string({ unit: nameChars, maxLength: 20 });
const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);

describe("authn parsers on hostile input", () => {
  it("parses a service-account username only when it round-trips exactly", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.tuple(looseName, looseName).map(([a, b]) => `system:serviceaccount:${a}:${b}`),
        ),
        (u) => {
          const parsed = parseServiceAccountUsername(u);
          if (parsed !== undefined) {
            expect(`system:serviceaccount:${parsed.namespace}:${parsed.serviceAccount}`).toBe(u);
            expect(parsed.namespace).toMatch(/^[a-z0-9-]+$/);
            expect(parsed.serviceAccount).toMatch(/^[a-z0-9.-]+$/);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("accepts every well-formed service-account username", () => {
    fc.assert(
      fc.property(dnsLabel, dnsLabel, (ns, sa) => {
        expect(parseServiceAccountUsername(`system:serviceaccount:${ns}:${sa}`)).toEqual({
          namespace: ns,
          serviceAccount: sa,
        });
      }),
    );
  });

  it("parses an Istio SPIFFE ID only when it round-trips exactly", () => {
    const idish = fc
      .tuple(looseName, looseName, looseName)
      .map(([td, ns, sa]) => `spiffe://${td}/ns/${ns}/sa/${sa}`);
    fc.assert(
      fc.property(fc.oneof(fc.string(), idish), (uri) => {
        const id = parseIstioSpiffeId(uri);
        if (id !== undefined)
          expect(serviceAccountSpiffeId(id.trustDomain, id.namespace, id.serviceAccount)).toBe(uri);
      }),
      { numRuns: 2000 },
    );
  });

  it("reads exp from any string without throwing, and only a finite number", () => {
    const jwtish = fc
      .tuple(fc.string(), fc.jsonValue(), fc.string())
      .map(
        ([h, p, s]) =>
          `${Buffer.from(h).toString("base64url")}.${Buffer.from(JSON.stringify(p) ?? "").toString("base64url")}.${s}`,
      );
    fc.assert(
      fc.property(fc.oneof(fc.string(), jwtish), (token) => {
        const exp = unverifiedExpiry(token);
        expect(exp === undefined || Number.isFinite(exp)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("extracts a bearer token or refuses with a MeshsignError, never anything else", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string(),
            fc.string().map((s) => `Bearer ${s}`),
          ),
          { maxLength: 4 },
        ),
        (authorization) => {
          try {
            const token = extractBearerToken({ authorization });
            expect(authorization).toContain(`Bearer ${token}`);
            expect(token.length).toBeGreaterThan(0);
          } catch (err) {
            expect(isMeshsignError(err, "ERR_TOKEN_MISSING", "ERR_TOKEN_MALFORMED")).toBe(true);
          }
        },
      ),
    );
  });

  it("reads a cluster claim only from exactly one clusterid value", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 3 }), (clusterId) => {
        expect(claimedClusterId({ clusterId })).toBe(clusterId.length === 1 ? clusterId[0] : "");
      }),
    );
  });
});
