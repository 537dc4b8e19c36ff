import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient, problemOf, registerAccount } from "../../../src/acme/index.js";
import { CLUSTER_ISSUERS, SECRETS } from "../../../src/api/types.js";
import { Engine } from "../../../src/engine/engine.js";
import type { IssuerResource } from "../../../src/engine/lib/api.js";
import { isMeshsignError, type MeshsignError } from "../../../src/errors/index.js";
import { generateKeySync } from "../../../src/pki/index.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import { freePort } from "../../lib/ports.js";
import { EAB_HMAC_KEY, EAB_KID, type Pebble, startPebble } from "../harness.js";
import { untilStore } from "../until-store.js";

let pebble: Pebble;

async function connect(): Promise<AcmeClient> {
  return AcmeClient.connect({
    directoryUrl: pebble.directoryUrl,
    accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
    caBundle: pebble.tlsCaPem,
  });
}

beforeAll(async () => {
  pebble = await startPebble({ httpPort: await freePort(), eab: true });
});

afterAll(async () => {
  await pebble?.stop();
});

describe("External Account Binding against Pebble with externalAccountBindingRequired", () => {
  it("the directory says an external account is required", async () => {
    expect((await connect()).directory.meta.externalAccountRequired).toBe(true);
  });

  it("registers with the kid and HMAC key of examples/acme-eab.yaml", async () => {
    const client = await connect();
    const account = await registerAccount(client, {
      email: "ops@example.com",
      externalAccountBinding: { keyId: EAB_KID, hmacKey: EAB_HMAC_KEY },
    });
    expect(account.status).toBe("valid");
    expect(client.accountUrl).toBe(account.url);
  });

  it("refuses to register without a binding before sending anything, naming the missing setting", async () => {
    const client = await connect();
    const err = await registerAccount(client, { email: "ops@example.com" }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
    expect((err as MeshsignError).message).toContain("externalAccountBinding");
    expect(client.stats.requests).toBe(0);
  });

  it("the CA itself refuses a newAccount without a binding, and the error carries its problem", async () => {
    const client = await connect();
    const err = await client
      .post(client.directory.newAccount, { termsOfServiceAgreed: true }, "newAccount", { useJwk: true })
      .catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_PROBLEM")).toBe(true);
    expect(problemOf(err)?.type).toBe("urn:ietf:params:acme:error:externalAccountRequired");
    expect((err as MeshsignError).retry).toBe("terminal");
  });

  it("the CA refuses a binding MAC'd with the wrong key; the key never appears in the error", async () => {
    const client = await connect();
    const wrongKey = Buffer.alloc(48, 7).toString("base64url");
    const err = await registerAccount(client, {
      externalAccountBinding: { keyId: EAB_KID, hmacKey: wrongKey },
    }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_PROBLEM")).toBe(true);
    expect((err as MeshsignError).message).toMatch(/refused newAccount/);
    const everything = JSON.stringify({
      m: (err as MeshsignError).message,
      d: (err as MeshsignError).detail,
    });
    expect(everything).not.toContain(wrongKey);
    expect(everything).not.toContain(EAB_HMAC_KEY);
  });

  it("an ACME ClusterIssuer registers with its externalAccountBinding (key from its Secret) and one without is not ready, saying why", async () => {
    const store = new MemoryStore();
    await store.create(SECRETS, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "eab", namespace: "meshsign-system" },
      data: { secret: Buffer.from(EAB_HMAC_KEY).toString("base64") },
    });
    const issuer = (name: string, eab: boolean): IssuerResource => ({
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name },
      spec: {
        acme: {
          server: pebble.directoryUrl,
          caBundle: Buffer.from(pebble.tlsCaPem).toString("base64"),
          privateKeySecretRef: { name: `${name}-account` },
          ...(eab
            ? { externalAccountBinding: { keyID: EAB_KID, keySecretRef: { name: "eab", key: "secret" } } }
            : {}),
          solvers: [{ http01: { ingress: {} } }],
        },
      },
    });
    await store.create(CLUSTER_ISSUERS, issuer("with-eab", true));
    await store.create(CLUSTER_ISSUERS, issuer("without-eab", false));
    const engine = new Engine({ store, metricsRegistry: new Registry() });
    try {
      await engine.start();
      const ready = (name: string) => async () =>
        (await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, name))?.status?.conditions?.find(
          (c) => c.type === "Ready",
        );
      expect(
        await untilStore(store, [CLUSTER_ISSUERS], ready("with-eab"), "the EAB issuer's status"),
      ).toMatchObject({ status: "True", reason: "ACMEAccountRegistered" });
      const refused = await untilStore(
        store,
        [CLUSTER_ISSUERS],
        ready("without-eab"),
        "the other issuer's status",
      );
      expect(refused).toMatchObject({ status: "False", reason: "ErrRegisterACMEAccount" });
      expect(refused.message).toContain("externalAccountBinding");
      expect(refused.message).not.toContain(EAB_HMAC_KEY);
    } finally {
      await engine.stop();
    }
  });
});
