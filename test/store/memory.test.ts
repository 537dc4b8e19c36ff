import { describe, expect, it } from "vitest";
import { CERTIFICATES, SECRETS } from "../../src/api/types.js";
import { isMeshsignError, MeshsignError } from "../../src/errors/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { cert, describeStoreContract, secret } from "./contract.js";

describeStoreContract("in-memory", async (now) => ({ store: new MemoryStore({ now }), cleanup: async () => {} }));


describe("a durable backend refusing a batch", () => {
  /** A store whose commit refuses while `refuse` is set: transiently (disk full) or for good. */
  function refusing(kind: "transient" | "terminal") {
    const state = { refuse: false };
    const store = new MemoryStore({
      commit: async () => {
        if (state.refuse) throw kind === "transient" ? new MeshsignError("ERR_STORE_UNAVAILABLE", "store write refused: no space left on device (ENOSPC)", { retry: "transient" }) : new Error("EIO");
      },
    });
    return { store, state };
  }

  it("rolls a transiently refused batch back entirely (cascade and owner index included) and takes later writes", async () => {
    const { store, state } = refusing("transient");
    const owner = await store.create(CERTIFICATES, cert("c"));
    const ref = { apiVersion: "cert-manager.io/v1", kind: "Certificate", name: "c", uid: owner.metadata.uid as string, controller: true };
    const dep = await store.create(SECRETS, secret("s", { metadata: { name: "s", namespace: "ns", ownerReferences: [ref] } }));
    state.refuse = true;
    // Deleting the owner cascades to its dependent in the same batch; a create joins it.
    const results = await Promise.allSettled([store.delete(CERTIFICATES, "ns", "c"), store.create(SECRETS, secret("new"))]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect(isMeshsignError((r as PromiseRejectedResult).reason, "ERR_STORE_UNAVAILABLE")).toBe(true);
      expect(((r as PromiseRejectedResult).reason as MeshsignError).retry).toBe("transient");
    }
    expect(await store.get(CERTIFICATES, "ns", "c")).toEqual(owner);
    expect(await store.get(SECRETS, "ns", "s")).toEqual(dep);
    expect(await store.get(SECRETS, "ns", "new")).toBeUndefined();

    state.refuse = false;
    // The owner index survived the rollback: deleting the owner now still collects its dependent,
    // and resourceVersions continue from the last commit.
    const created = await store.create(SECRETS, secret("new"));
    expect(Number(created.metadata.resourceVersion)).toBe(Number(dep.metadata.resourceVersion) + 1);
    await store.delete(CERTIFICATES, "ns", "c");
    await store.flush();
    expect(await store.get(SECRETS, "ns", "s")).toBeUndefined();
  });

  it("still refuses every later write after any other commit failure", async () => {
    const { store, state } = refusing("terminal");
    await store.create(SECRETS, secret("a"));
    state.refuse = true;
    await expect(store.create(SECRETS, secret("b"))).rejects.toThrow("store write failed; the store refuses further writes until restarted");
    state.refuse = false;
    await expect(store.create(SECRETS, secret("c"))).rejects.toThrow("refuses further writes");
  });
});
