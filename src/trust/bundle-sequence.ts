/**
 * Where the SPIFFE bundle's `spiffe_sequence` is kept so that it never goes
 * back, across restarts and replicas (SPIFFE_Trust_Domain_and_Bundle.md
 * §4.1.1: a relying party may ignore a bundle whose sequence is not newer).
 *
 * - standalone: a small JSON file in the data dir (written atomically), which
 *   `meshsign bundle` also reads;
 * - Kubernetes: a ConfigMap in meshsign's namespace, updated with the
 *   resourceVersion as a compare-and-swap, so replicas that see the same
 *   rotation agree on one number instead of each counting it.
 */
import { readFile } from "node:fs/promises";
import { CONFIGMAPS, type ConfigMap } from "../api/types.js";
import { isMeshsignError, MeshsignError } from "../errors/index.js";
import { writeFileAtomic } from "../fsutil/index.js";
import type { Store } from "../store/types.js";
import { type BundleSequenceState, nextBundleSequence } from "./spiffe-bundle.js";

export interface BundleSequenceStore {
  /** The stored state, or undefined when none was stored yet. */
  read(): Promise<BundleSequenceState | undefined>;
  /** Stores and returns the state for these contents: unchanged for the same, the next number otherwise. */
  advance(rootsPem: string, refreshHintSeconds: number): Promise<BundleSequenceState>;
}

/** The state's file name inside the data dir. */
export const BUNDLE_SEQUENCE_FILE = "spiffe-bundle-sequence.json";
/** The ConfigMap that holds the state in Kubernetes mode. */
export const BUNDLE_SEQUENCE_CONFIGMAP = "meshsign-spiffe-bundle";
const SEQUENCE_KEY = "spiffe-sequence";
const DIGEST_KEY = "content-sha256";

/** The state in a file; one writer (the primary process) at a time. */
export class FileBundleSequence implements BundleSequenceStore {
  #writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  async read(): Promise<BundleSequenceState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new MeshsignError("ERR_CONFIG_INVALID", `cannot read ${this.path}`, { cause: err });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (cause) {
      throw damaged(this.path, cause);
    }
    const d = (doc ?? {}) as Record<string, unknown>;
    return checkedState(d.sequence, d.contentDigest, this.path);
  }

  advance(rootsPem: string, refreshHintSeconds: number): Promise<BundleSequenceState> {
    // Serialised: two root changes in a row must not both start from the same number.
    const next = this.#writes.then(async () => {
      const previous = await this.read();
      const state = nextBundleSequence(previous, rootsPem, refreshHintSeconds);
      if (state !== previous) {
        await writeFileAtomic(this.path, `${JSON.stringify({ sequence: state.sequence, contentDigest: state.contentDigest })}\n`, { mode: 0o600, fsync: true });
      }
      return state;
    });
    this.#writes = next.catch(() => {});
    return next;
  }
}

export interface ConfigMapBundleSequenceOptions {
  readonly store: Store;
  readonly namespace: string;
  readonly name?: string;
}

/** The state in a ConfigMap, shared by every replica. */
export class ConfigMapBundleSequence implements BundleSequenceStore {
  readonly #name: string;

  constructor(private readonly options: ConfigMapBundleSequenceOptions) {
    this.#name = options.name ?? BUNDLE_SEQUENCE_CONFIGMAP;
  }

  async read(): Promise<BundleSequenceState | undefined> {
    const cm = await this.options.store.get<ConfigMap>(CONFIGMAPS, this.options.namespace, this.#name);
    return cm ? this.#state(cm) : undefined;
  }

  async advance(rootsPem: string, refreshHintSeconds: number): Promise<BundleSequenceState> {
    const { store, namespace } = this.options;
    for (let attempt = 0; attempt < 10; attempt++) {
      const cm = await store.get<ConfigMap>(CONFIGMAPS, namespace, this.#name);
      const previous = cm ? this.#state(cm) : undefined;
      const state = nextBundleSequence(previous, rootsPem, refreshHintSeconds);
      if (state === previous) return state;
      const data = { [SEQUENCE_KEY]: String(state.sequence), [DIGEST_KEY]: state.contentDigest };
      try {
        if (cm) await store.update(CONFIGMAPS, { ...cm, data });
        else {
          await store.create(CONFIGMAPS, {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: this.#name, namespace, labels: { "app.kubernetes.io/managed-by": "meshsign" } },
            data,
          });
        }
        return state;
      } catch (err) {
        // Another replica stored the same change first: read again, and adopt its number.
        if (!isMeshsignError(err, "ERR_CONFLICT", "ERR_ALREADY_EXISTS")) throw err;
      }
    }
    throw new MeshsignError("ERR_STORE_UNAVAILABLE", `ConfigMap ${namespace}/${this.#name}: too many concurrent updates`);
  }

  #state(cm: ConfigMap): BundleSequenceState {
    const data = (cm.data ?? {}) as Record<string, string | undefined>;
    const raw = data[SEQUENCE_KEY];
    return checkedState(raw !== undefined && /^\d{1,15}$/.test(raw) ? Number(raw) : raw, data[DIGEST_KEY], `ConfigMap ${this.options.namespace}/${this.#name}`);
  }
}

function checkedState(sequence: unknown, digest: unknown, where: string): BundleSequenceState {
  if (!Number.isSafeInteger(sequence) || (sequence as number) < 1 || typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest)) {
    throw damaged(where);
  }
  return { sequence: sequence as number, contentDigest: digest };
}

/**
 * A damaged state is an error, not a restart at 1: serving a lower sequence
 * than before would make federated peers ignore the bundle.
 */
function damaged(where: string, cause?: unknown): MeshsignError {
  return new MeshsignError(
    "ERR_CONFIG_INVALID",
    `${where} does not hold a valid SPIFFE bundle sequence; fix or remove it (the sequence then restarts at 1, which federated peers may ignore until it passes the old number)`,
    cause === undefined ? {} : { cause },
  );
}
