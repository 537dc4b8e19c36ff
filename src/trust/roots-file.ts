/**
 * A roots bundle read from a file and re-published when its bytes change
 * (istio-csr's `--root-ca-file`, reference §2.4). The file is typically a
 * key of a mounted Secret or ConfigMap, which the kubelet updates by swapping
 * a `..data` symlink: the file is never written in place, so watching the file
 * alone misses updates. We watch its directory, re-read on any event there,
 * and poll as a safety net (inotify events can be lost or unsupported).
 */
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { MeshsignError } from "../errors/index.js";
import { checkRootsBundle } from "./lib/pem-bundle.js";
import { RootsBroadcaster, type RootsSource } from "./roots-source.js";

/** How often the file is re-read even without a change event. */
export const DEFAULT_ROOTS_POLL_INTERVAL_MS = 10_000;
/** Events come in bursts during a symlink swap; read once after they settle. */
const SETTLE_MS = 50;

export interface RootsFileOptions {
  readonly path: string;
  readonly pollIntervalMs?: number;
  /** A re-read that failed (unreadable, not PEM, not a CA): the last good bundle stays published. */
  readonly onError?: (err: MeshsignError) => void;
}

export class RootsFileWatcher implements RootsSource {
  readonly #path: string;
  readonly #roots: RootsBroadcaster;
  readonly #onError: (err: MeshsignError) => void;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  #reading: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(options: RootsFileOptions, initial: string) {
    this.#path = options.path;
    this.#roots = new RootsBroadcaster(initial);
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Reads the bundle and starts watching. Fails (ERR_CONFIG_INVALID naming
   * the file) when the first read is unreadable, empty or not a CA bundle:
   * starting without roots would publish nothing to trust.
   */
  static async open(options: RootsFileOptions): Promise<RootsFileWatcher> {
    const initial = await readBundle(options.path).catch((cause: unknown) => {
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        `root CA file ${options.path} is not a usable roots bundle`,
        {
          cause,
        },
      );
    });
    const watcher = new RootsFileWatcher(options, initial);
    watcher.#start(options.pollIntervalMs ?? DEFAULT_ROOTS_POLL_INTERVAL_MS);
    return watcher;
  }

  current(): string {
    return this.#roots.current() ?? "";
  }

  subscribe(listener: (pem: string) => void): () => void {
    return this.#roots.subscribe(listener);
  }

  /** Re-reads the file now; resolves once the read (and any publication) is done. */
  refresh(): Promise<void> {
    this.#reading = this.#reading.then(() => this.#reload());
    return this.#reading;
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#settle);
  }

  #start(pollIntervalMs: number): void {
    try {
      this.#watcher = watch(path.dirname(this.#path), { persistent: false }, () => this.#changed());
      this.#watcher.on("error", () => {
        // The directory went away (unmounted, replaced): polling carries on.
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      this.#watcher = undefined;
    }
    if (pollIntervalMs > 0) {
      this.#poll = setInterval(() => void this.refresh(), pollIntervalMs);
      this.#poll.unref();
    }
  }

  #changed(): void {
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => void this.refresh(), SETTLE_MS);
    this.#settle.unref();
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#roots.set(await readBundle(this.#path));
    } catch (err) {
      this.#onError(
        err instanceof MeshsignError
          ? err
          : new MeshsignError("ERR_CONFIG_INVALID", `root CA file ${this.#path} could not be read`, {
              cause: err,
            }),
      );
    }
  }
}

async function readBundle(file: string): Promise<string> {
  return checkRootsBundle(await readFile(file, "utf8"), file);
}
