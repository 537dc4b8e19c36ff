import { describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, ORDERS, SECRETS } from "../../src/api/types.js";
import { labelSelectorFromSet, parseLabelSelector } from "../../src/api/label-selector.js";
import { isMeshsignError } from "../../src/errors/index.js";
import type { KubeObject, Store, WatchEvent } from "../../src/store/types.js";

/** The Store contract (src/store/types.ts), run against every backend. */

/** Makes a fresh, empty store whose clock reads `now()`. */
export type StoreFactory = (now: () => number) => Promise<{ store: Store; cleanup(): Promise<void> }>;

type Obj = KubeObject & {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};

export function cert(name: string, extra: Partial<Obj> = {}, ns = "ns"): Obj {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace: ns },
    spec: { secretName: `${name}-tls`, issuerRef: { name: "ca" } },
    ...extra,
  };
}

export function secret(name: string, extra: Partial<Obj> = {}, ns = "ns"): Obj {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    data: { a: "QQ==" },
    ...extra,
  };
}

async function expectCode(p: Promise<unknown>, code: Parameters<typeof isMeshsignError>[1]): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isMeshsignError(err, code), String(err)).toBe(true);
    return;
  }
  expect.unreachable(`expected ${code}`);
}

export function describeStoreContract(backend: string, factory: StoreFactory): void {
  const NOW = Date.parse("2026-03-01T12:00:00Z");
  async function withStore(fn: (store: Store, clock: { t: number }) => Promise<void>): Promise<void> {
    const clock = { t: NOW };
    const { store, cleanup } = await factory(() => clock.t);
    try {
      await fn(store, clock);
    } finally {
      await store.close();
      await cleanup();
    }
  }

  describe(`the ${backend} store`, () => {
    it("fills server fields on create and ignores status", async () => {
      await withStore(async (store) => {
        const created = await store.create(CERTIFICATES, cert("a", { status: { revision: 3 } }));
        expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
        expect(created.metadata.generation).toBe(1);
        expect(created.metadata.creationTimestamp).toBe("2026-03-01T12:00:00Z");
        expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);
        expect(created.status).toBeUndefined();
        expect(await store.get(CERTIFICATES, "ns", "a")).toEqual(created);
      });
    });

    it("refuses to create an object twice", async () => {
      await withStore(async (store) => {
        await store.create(CERTIFICATES, cert("a"));
        await expectCode(store.create(CERTIFICATES, cert("a")), "ERR_ALREADY_EXISTS");
        // the same name in another namespace is another object
        await store.create(CERTIFICATES, cert("a", {}, "other"));
      });
    });

    it("honours generateName with distinct names", async () => {
      await withStore(async (store) => {
        const names = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const s = await store.create<Obj>(SECRETS, {
            ...secret(""),
            metadata: { generateName: "web-", namespace: "ns" },
          });
          expect(s.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
          names.add(s.metadata.name ?? "");
        }
        expect(names.size).toBe(20);
      });
    });

    it("rejects names that are not RFC 1123 subdomains and namespaced objects without namespace", async () => {
      await withStore(async (store) => {
        await expectCode(store.create(SECRETS, secret("../etc")), "ERR_RESOURCE_INVALID");
        await expectCode(store.create(SECRETS, secret("Upper")), "ERR_RESOURCE_INVALID");
        await expectCode(
          store.create(SECRETS, { apiVersion: "v1", kind: "Secret", metadata: { name: "x" } }),
          "ERR_RESOURCE_INVALID",
        );
      });
    });

    it("drops the namespace of cluster-scoped objects", async () => {
      await withStore(async (store) => {
        const ci = await store.create(CLUSTER_ISSUERS, {
          apiVersion: "cert-manager.io/v1",
          kind: "ClusterIssuer",
          metadata: { name: "ci", namespace: "x" },
          spec: { selfSigned: {} },
        } as Obj);
        expect(ci.metadata.namespace).toBeUndefined();
        expect(await store.get(CLUSTER_ISSUERS, undefined, "ci")).toBeDefined();
      });
    });

    it("changes nothing stored when a reader changes a result (a copy, or a frozen object that refuses)", async () => {
      const tryToChange = (o: Obj | undefined): void => {
        try {
          (o?.spec as Record<string, unknown>).secretName = "changed";
        } catch (err) {
          expect(err).toBeInstanceOf(TypeError); // frozen
        }
      };
      await withStore(async (store) => {
        const input = cert("a");
        const created = await store.create(CERTIFICATES, input);
        (input.spec as Record<string, unknown>).secretName = "changed-input";
        tryToChange(created);
        const got = await store.get<Obj>(CERTIFICATES, "ns", "a");
        expect(got?.spec?.secretName).toBe("a-tls");
        tryToChange(got);
        tryToChange((await store.list<Obj>(CERTIFICATES))[0]);
        const updated = await store.updateStatus<Obj>(CERTIFICATES, {
          ...(got as Obj),
          status: { x: { y: 1 } },
        });
        tryToChange(updated);
        const final = await store.get<Obj>(CERTIFICATES, "ns", "a");
        expect(final?.spec?.secretName).toBe("a-tls");
        expect(final?.status).toEqual({ x: { y: 1 } });
      });
    });

    it("merges a Secret's stringData into data and drops it", async () => {
      await withStore(async (store) => {
        const s = await store.create(
          SECRETS,
          secret("s", { data: { a: "QQ==", b: "Qg==" }, stringData: { b: "bee", c: "see" } }),
        );
        expect(s.data).toEqual({
          a: "QQ==",
          b: Buffer.from("bee").toString("base64"),
          c: Buffer.from("see").toString("base64"),
        });
        expect(s.stringData).toBeUndefined();
      });
    });

    it("detects a stale resourceVersion on update and delete, and updates unconditionally without one", async () => {
      await withStore(async (store) => {
        const v1 = await store.create(CERTIFICATES, cert("a"));
        const v2 = await store.update(CERTIFICATES, { ...v1, spec: { ...v1.spec, dnsNames: ["x"] } });
        await expectCode(
          store.update(CERTIFICATES, { ...v1, spec: { ...v1.spec, dnsNames: ["y"] } }),
          "ERR_CONFLICT",
        );
        await expectCode(
          store.updateStatus(CERTIFICATES, { ...v1, status: { revision: 1 } }),
          "ERR_CONFLICT",
        );
        await expectCode(
          store.delete(CERTIFICATES, "ns", "a", { resourceVersion: v1.metadata.resourceVersion ?? "" }),
          "ERR_CONFLICT",
        );
        const { resourceVersion: _rv, ...meta } = v1.metadata;
        const v3 = await store.update<Obj>(CERTIFICATES, {
          ...v1,
          metadata: meta,
          spec: { ...v1.spec, dnsNames: ["z"] },
        });
        expect(Number(v3.metadata.resourceVersion)).toBeGreaterThan(Number(v2.metadata.resourceVersion));
        try {
          await store.update(CERTIFICATES, { ...v1, spec: {} });
        } catch (err) {
          expect(isMeshsignError(err, "ERR_CONFLICT") && err.retry).toBe("transient");
        }
      });
    });

    it("fails with ERR_NOT_FOUND for missing objects", async () => {
      await withStore(async (store) => {
        expect(await store.get(CERTIFICATES, "ns", "nope")).toBeUndefined();
        await expectCode(store.update(CERTIFICATES, cert("nope")), "ERR_NOT_FOUND");
        await expectCode(store.updateStatus(CERTIFICATES, cert("nope")), "ERR_NOT_FOUND");
        await expectCode(store.delete(CERTIFICATES, "ns", "nope"), "ERR_NOT_FOUND");
      });
    });

    it("bumps generation on spec or data changes only", async () => {
      await withStore(async (store) => {
        const v1 = await store.create(CERTIFICATES, cert("a"));
        const labelled = await store.update(CERTIFICATES, {
          ...v1,
          metadata: { ...v1.metadata, labels: { x: "y" } },
        });
        expect(labelled.metadata.generation).toBe(1);
        expect(labelled.metadata.resourceVersion).not.toBe(v1.metadata.resourceVersion);
        const respecced = await store.update(CERTIFICATES, {
          ...labelled,
          spec: { ...labelled.spec, isCA: true },
        });
        expect(respecced.metadata.generation).toBe(2);
        const withStatus = await store.updateStatus(CERTIFICATES, { ...respecced, status: { revision: 1 } });
        expect(withStatus.metadata.generation).toBe(2);
        const s1 = await store.create(SECRETS, secret("s"));
        const s2 = await store.update(SECRETS, { ...s1, data: { a: "Qg==" } });
        expect(s2.metadata.generation).toBe(2);
      });
    });

    it("treats an update that changes nothing as a no-op, whatever the key order", async () => {
      await withStore(async (store) => {
        const v1 = await store.create(
          CERTIFICATES,
          cert("a", { spec: { secretName: "s", issuerRef: { name: "ca", kind: "Issuer" } } }),
        );
        const reordered = {
          metadata: v1.metadata,
          spec: { issuerRef: { kind: "Issuer", name: "ca" }, secretName: "s" },
          kind: v1.kind,
          apiVersion: v1.apiVersion,
        };
        const v2 = await store.update(CERTIFICATES, reordered);
        expect(v2.metadata.resourceVersion).toBe(v1.metadata.resourceVersion);
        const v3 = await store.updateStatus(CERTIFICATES, v1);
        expect(v3.metadata.resourceVersion).toBe(v1.metadata.resourceVersion);
      });
    });

    it("keeps status on update and spec on updateStatus", async () => {
      await withStore(async (store) => {
        const v1 = await store.create(CERTIFICATES, cert("a"));
        const v2 = await store.updateStatus(CERTIFICATES, {
          ...v1,
          spec: { secretName: "ignored" },
          status: { revision: 1 },
        });
        expect(v2.spec?.secretName).toBe("a-tls");
        expect(v2.status).toEqual({ revision: 1 });
        const v3 = await store.update(CERTIFICATES, {
          ...v2,
          spec: { ...v2.spec, isCA: true },
          status: { revision: 99 },
        });
        expect(v3.status).toEqual({ revision: 1 });
        expect(v3.spec?.isCA).toBe(true);
      });
    });

    it("holds a deleted object with finalizers until the last finalizer is removed", async () => {
      await withStore(async (store, clock) => {
        const v1 = await store.create(
          CERTIFICATES,
          cert("a", { metadata: { name: "a", namespace: "ns", finalizers: ["x/one", "x/two"] } }),
        );
        clock.t += 5000;
        await store.delete(CERTIFICATES, "ns", "a");
        const deleting = await store.get<Obj>(CERTIFICATES, "ns", "a");
        expect(deleting?.metadata.deletionTimestamp).toBe("2026-03-01T12:00:05Z");
        await expectCode(
          store.update(CERTIFICATES, {
            ...deleting,
            metadata: { ...deleting?.metadata, finalizers: ["x/one", "x/two", "x/three"] },
          } as Obj),
          "ERR_RESOURCE_INVALID",
        );
        // deleting again changes nothing
        await store.delete(CERTIFICATES, "ns", "a");
        expect((await store.get(CERTIFICATES, "ns", "a"))?.metadata.resourceVersion).toBe(
          deleting?.metadata.resourceVersion,
        );
        const one = await store.update(CERTIFICATES, {
          ...deleting,
          metadata: { ...deleting?.metadata, finalizers: ["x/two"] },
        } as Obj);
        expect(one.metadata.deletionTimestamp).toBe("2026-03-01T12:00:05Z");
        await store.update(CERTIFICATES, { ...one, metadata: { ...one.metadata, finalizers: [] } });
        expect(await store.get(CERTIFICATES, "ns", "a")).toBeUndefined();
        expect(v1.metadata.deletionTimestamp).toBeUndefined();
      });
    });

    it("cascades the deletion of an owner to its dependents, through several levels", async () => {
      await withStore(async (store) => {
        const c = await store.create(CERTIFICATES, cert("a"));
        const own = (o: KubeObject) => [
          {
            apiVersion: o.apiVersion,
            kind: o.kind,
            name: o.metadata.name ?? "",
            uid: o.metadata.uid ?? "",
            controller: true,
          },
        ];
        const s = await store.create(
          SECRETS,
          secret("key", { metadata: { name: "key", namespace: "ns", ownerReferences: own(c) } }),
        );
        const cr = await store.create(CERTIFICATE_REQUESTS, {
          apiVersion: "cert-manager.io/v1",
          kind: "CertificateRequest",
          metadata: { name: "a-1", namespace: "ns", ownerReferences: own(c) },
          spec: {},
        } as Obj);
        await store.create(ORDERS, {
          apiVersion: "acme.cert-manager.io/v1",
          kind: "Order",
          metadata: { name: "a-1-123", namespace: "ns", ownerReferences: own(cr) },
          spec: {},
        } as Obj);
        const guarded = await store.create(
          SECRETS,
          secret("guarded", {
            metadata: { name: "guarded", namespace: "ns", ownerReferences: own(c), finalizers: ["x/keep"] },
          }),
        );
        const other = await store.create(CERTIFICATES, cert("b"));
        const shared = await store.create(
          SECRETS,
          secret("shared", {
            metadata: { name: "shared", namespace: "ns", ownerReferences: [...own(c), ...own(other)] },
          }),
        );
        const unrelated = await store.create(SECRETS, secret("unrelated"));

        await store.delete(CERTIFICATES, "ns", "a");
        expect(await store.get(SECRETS, "ns", s.metadata.name ?? "")).toBeUndefined();
        expect(await store.get(CERTIFICATE_REQUESTS, "ns", "a-1")).toBeUndefined();
        expect(await store.get(ORDERS, "ns", "a-1-123")).toBeUndefined();
        expect((await store.get(SECRETS, "ns", "guarded"))?.metadata.deletionTimestamp).toBeDefined();
        expect(
          (await store.get(SECRETS, "ns", "shared"))?.metadata.ownerReferences?.map((r) => r.uid),
        ).toEqual([other.metadata.uid]);
        expect(await store.get(SECRETS, "ns", "unrelated")).toEqual(unrelated);
        expect(guarded.metadata.uid).toBeDefined();
        expect(shared.metadata.uid).toBeDefined();
      });
    });

    it("does not cascade while the owner waits on its finalizers", async () => {
      await withStore(async (store) => {
        const c = await store.create(
          CERTIFICATES,
          cert("a", { metadata: { name: "a", namespace: "ns", finalizers: ["x/f"] } }),
        );
        await store.create(
          SECRETS,
          secret("dep", {
            metadata: {
              name: "dep",
              namespace: "ns",
              ownerReferences: [
                {
                  apiVersion: "cert-manager.io/v1",
                  kind: "Certificate",
                  name: "a",
                  uid: c.metadata.uid ?? "",
                },
              ],
            },
          }),
        );
        await store.delete(CERTIFICATES, "ns", "a");
        expect(await store.get(SECRETS, "ns", "dep")).toBeDefined();
        const deleting = await store.get(CERTIFICATES, "ns", "a");
        await store.update(CERTIFICATES, {
          ...deleting,
          metadata: { ...deleting?.metadata, finalizers: [] },
        } as Obj);
        expect(await store.get(SECRETS, "ns", "dep")).toBeUndefined();
      });
    });

    it("lists by namespace and by label selector, sorted", async () => {
      await withStore(async (store) => {
        await store.create(
          SECRETS,
          secret("b", { metadata: { name: "b", namespace: "n1", labels: { app: "x", tier: "1" } } }),
        );
        await store.create(
          SECRETS,
          secret("a", { metadata: { name: "a", namespace: "n1", labels: { app: "x" } } }),
        );
        await store.create(
          SECRETS,
          secret("c", { metadata: { name: "c", namespace: "n2", labels: { app: "y" } } }),
        );
        const names = async (o?: Parameters<Store["list"]>[1]) =>
          (await store.list(SECRETS, o)).map((s) => `${s.metadata.namespace}/${s.metadata.name}`);
        expect(await names()).toEqual(["n1/a", "n1/b", "n2/c"]);
        expect(await names({ namespace: "n1" })).toEqual(["n1/a", "n1/b"]);
        expect(await names({ labelSelector: labelSelectorFromSet({ app: "x" }) })).toEqual(["n1/a", "n1/b"]);
        expect(await names({ labelSelector: labelSelectorFromSet({ app: "x", tier: "1" }) })).toEqual(["n1/b"]);
        expect(await names({ namespace: "n2", labelSelector: labelSelectorFromSet({ app: "x" }) })).toEqual([]);
        // The API server's set-based selectors, with the same meaning in every backend.
        const selected = async (text: string) => names({ labelSelector: parseLabelSelector(text) });
        expect(await selected("app in (x,y),!tier")).toEqual(["n1/a", "n2/c"]);
        expect(await selected("app notin (x)")).toEqual(["n2/c"]);
        expect(await selected("tier!=1")).toEqual(["n1/a", "n2/c"]);
        expect(await selected("tier")).toEqual(["n1/b"]);
        expect(await selected("tier>0,tier<2")).toEqual(["n1/b"]);
      });
    });

    it("watches: initial ADDED for existing objects, then every change in order", async () => {
      await withStore(async (store) => {
        await store.create(CERTIFICATES, cert("pre"));
        const events: string[] = [];
        const w = store.watch(CERTIFICATES, (e) =>
          events.push(`${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`),
        );
        await w.synced;
        expect(events.map((e) => e.split(" ").slice(0, 2).join(" "))).toEqual(["ADDED pre"]);
        const a = await store.create(CERTIFICATES, cert("a"));
        const a2 = await store.update(CERTIFICATES, { ...a, spec: { ...a.spec, isCA: true } });
        const a3 = await store.updateStatus(CERTIFICATES, { ...a2, status: { revision: 1 } });
        await store.delete(CERTIFICATES, "ns", "a");
        await store.create(SECRETS, secret("other-type"));
        w.stop();
        await store.create(CERTIFICATES, cert("after-stop"));
        expect(events.slice(1)).toEqual([
          `ADDED a ${a.metadata.resourceVersion}`,
          `MODIFIED a ${a2.metadata.resourceVersion}`,
          `MODIFIED a ${a3.metadata.resourceVersion}`,
          `DELETED a ${a3.metadata.resourceVersion}`,
        ]);
      });
    });

    it("watches with a selector see objects enter and leave it", async () => {
      await withStore(async (store) => {
        const events: string[] = [];
        const w = store.watch(SECRETS, (e) => events.push(`${e.type} ${e.object.metadata.name}`), {
          labelSelector: labelSelectorFromSet({ managed: "true" }),
        });
        await w.synced;
        const s = await store.create(SECRETS, secret("s"));
        const s2 = await store.update(SECRETS, {
          ...s,
          metadata: { ...s.metadata, labels: { managed: "true" } },
        });
        const s3 = await store.update(SECRETS, { ...s2, data: { b: "Qg==" } });
        await store.update(SECRETS, { ...s3, metadata: { ...s3.metadata, labels: {} } });
        w.stop();
        expect(events).toEqual(["ADDED s", "MODIFIED s", "DELETED s"]);
      });
    });

    it("watches with a set-based selector see an object leave it when it gains a label", async () => {
      await withStore(async (store) => {
        const events: string[] = [];
        const w = store.watch(SECRETS, (e) => events.push(`${e.type} ${e.object.metadata.name}`), {
          labelSelector: parseLabelSelector("tier notin (db), !legacy"),
        });
        await w.synced;
        const s = await store.create(SECRETS, secret("s", { metadata: { name: "s", namespace: "ns", labels: { tier: "web" } } }));
        await store.create(SECRETS, secret("db", { metadata: { name: "db", namespace: "ns", labels: { tier: "db" } } }));
        await store.update(SECRETS, { ...s, metadata: { ...s.metadata, labels: { tier: "web", legacy: "" } } });
        w.stop();
        expect(events).toEqual(["ADDED s", "DELETED s"]);
      });
    });

    it("delivers concurrent writes to a watcher in commit order with increasing resourceVersions", async () => {
      await withStore(async (store) => {
        const seen: number[] = [];
        const w = store.watch(SECRETS, (e: WatchEvent<KubeObject>) =>
          seen.push(Number(e.object.metadata.resourceVersion)),
        );
        await w.synced;
        const created = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.create(SECRETS, secret(`s${i}`))),
        );
        w.stop();
        expect(new Set(created.map((c) => c.metadata.resourceVersion)).size).toBe(200);
        expect(seen).toHaveLength(200);
        expect([...seen].sort((a, b) => a - b)).toEqual(seen);
        expect(await store.list(SECRETS)).toHaveLength(200);
      });
    });

    it("lets a watch callback that throws not break the stream", async () => {
      await withStore(async (store) => {
        const names: string[] = [];
        const w = store.watch(SECRETS, (e) => {
          names.push(e.object.metadata.name ?? "");
          throw new Error("callback bug");
        });
        await w.synced;
        await store.create(SECRETS, secret("a"));
        await store.create(SECRETS, secret("b"));
        w.stop();
        expect(names).toEqual(["a", "b"]);
      });
    });
  });
}
