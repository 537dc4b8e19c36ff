import { describe, expect, it } from "vitest";
import { isMeshsignError, MeshsignError } from "../../src/errors/index.js";
import type { Issuer, SignRequest } from "../../src/issuers/issuer.js";
import type { CertificateTemplate } from "../../src/pki/index.js";
import {
  answerSignCall,
  decodeTemplate,
  encodeTemplate,
  PrimarySigner,
  type SignCall,
} from "../../src/server/remote-signing.js";

/*
 * A worker signs through the primary when the workload issuer is remote: the
 * template crosses the JSON IPC channel intact, answers and refusals come
 * back to the right call, and a primary that never answers is UNAVAILABLE.
 */

const TEMPLATE: CertificateTemplate = {
  publicKeySpki: new Uint8Array([48, 1, 2, 3]),
  subject: [],
  uris: ["spiffe://cluster.local/ns/default/sa/web"],
  isCA: false,
  keyUsage: ["digitalSignature"],
  extKeyUsage: ["serverAuth", "clientAuth"],
  notBefore: new Date(1_750_000_000_000),
  notAfter: new Date(1_750_003_600_000),
  serialNumber: new Uint8Array([0x7f, 1]),
};

/** A worker and a primary joined by a JSON channel, as cluster IPC carries messages. */
function pair(issuer: Issuer, deliver = true) {
  let signer: PrimarySigner;
  const seen: SignCall[] = [];
  signer = new PrimarySigner({
    kind: "vault",
    timeoutMs: 50,
    send: (call) => {
      const wire = JSON.parse(JSON.stringify(call)) as SignCall;
      seen.push(wire);
      if (deliver)
        void answerSignCall(issuer, wire).then((a) => signer.answer(JSON.parse(JSON.stringify(a))));
    },
  });
  return { signer, seen };
}

describe("signing through the primary", () => {
  it("carries the template through JSON unchanged", () => {
    expect(decodeTemplate(JSON.parse(JSON.stringify(encodeTemplate(TEMPLATE))))).toEqual(TEMPLATE);
  });

  it("returns the primary issuer's chain to the calling worker", async () => {
    let got: SignRequest | undefined;
    const { signer } = pair({
      kind: "vault",
      status: () => ({ ready: true, reason: "", message: "" }),
      sign: async (r) => {
        got = r;
        return { status: "issued", chain: ["LEAF", "INT"], ca: "ROOT" };
      },
    });
    await expect(signer.sign({ requestId: "a", csrPem: "CSR", template: TEMPLATE })).resolves.toEqual({
      status: "issued",
      chain: ["LEAF", "INT"],
      ca: "ROOT",
    });
    expect(got?.template).toEqual(TEMPLATE);
    expect(got?.csrPem).toBe("CSR");
    expect(got?.leafCheckedByCaller).toBeUndefined();
    // The worker checks the leaf itself: the primary's issuer learns it and checks only its CAs.
    await signer.sign({ requestId: "b", csrPem: "CSR", template: TEMPLATE, leafCheckedByCaller: true });
    expect(got?.leafCheckedByCaller).toBe(true);
  });

  it("returns the primary's refusal with its code, retry and retry hint, and nothing else of its detail", async () => {
    const { signer } = pair({
      kind: "vault",
      status: () => ({ ready: true, reason: "", message: "" }),
      sign: async () => {
        throw new MeshsignError("ERR_ISSUER_UNAVAILABLE", "Vault is sealed", {
          retry: "transient",
          detail: { retryAfterMs: 1500, token: "s.secret" },
        });
      },
    });
    const err = await signer
      .sign({ requestId: "a", csrPem: "", template: TEMPLATE })
      .catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ISSUER_UNAVAILABLE")).toBe(true);
    expect((err as MeshsignError).retry).toBe("transient");
    expect((err as MeshsignError).detail).toEqual({ retryAfterMs: 1500 });
  });

  it("answers UNAVAILABLE when the primary does not answer in time, and when the worker stops", async () => {
    const silent = pair(
      {
        kind: "vault",
        status: () => ({ ready: true, reason: "", message: "" }),
        sign: async () => ({ status: "issued", chain: [] }),
      },
      false,
    );
    const late = await silent.signer
      .sign({ requestId: "a", csrPem: "", template: TEMPLATE })
      .catch((e: unknown) => e);
    expect(isMeshsignError(late, "ERR_ISSUER_UNAVAILABLE")).toBe(true);
    const pending = silent.signer
      .sign({ requestId: "b", csrPem: "", template: TEMPLATE })
      .catch((e: unknown) => e);
    silent.signer.close();
    expect(isMeshsignError(await pending, "ERR_ISSUER_UNAVAILABLE")).toBe(true);
  });
});
