import { MemoryStore } from "../../src/store/memory/index.js";
import { describeStoreContract } from "./contract.js";

describeStoreContract("in-memory", async (now) => ({ store: new MemoryStore({ now }), cleanup: async () => {} }));
