/**
 * Standalone mode: every Secret the engine writes is also published as files,
 * `<out>/<namespace>/<secret>/{tls.crt,tls.key,ca.crt}`, so Envoy or nginx on
 * a plain VM can use them, with an optional hook command run after each
 * change. Kubernetes mode does not use this (the Secret is the output).
 */
import { spawn } from "node:child_process";
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { fsyncDir, writeFileAtomic } from "../fsutil/index.js";

/** Where written Secrets are also delivered. */
export interface SecretSink {
  /** The Secret `namespace/name` now holds `files` (decoded bytes by key). */
  publish(ref: SecretFileRef, files: Readonly<Record<string, Uint8Array>>): Promise<void>;
  /** The Secret is gone (its Certificate was deleted and it was removed). */
  remove(ref: SecretFileRef): Promise<void>;
}

export interface SecretFileRef {
  readonly namespace: string;
  readonly secretName: string;
  /** The Certificate that owns it (passed to the hook). */
  readonly certificateName: string;
}

export interface FileSecretSinkOptions {
  readonly outputDir: string;
  /** argv of a command run after each change (no shell). */
  readonly hook?: readonly string[];
  /** Hook timeout; the process is killed after it. Default 30 s. */
  readonly hookTimeoutMs?: number;
  /** Logs hook failures and write problems; failures are never fatal. */
  readonly onHookResult?: (result: HookResult) => void;
}

export interface HookResult {
  readonly ref: SecretFileRef;
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: string;
}

/** Only these keys are published; anything else in the Secret stays in the store. */
const PUBLISHED = ["tls.crt", "tls.key", "ca.crt"] as const;
const SAFE_SEGMENT = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export class FileSecretSink implements SecretSink {
  readonly #o: FileSecretSinkOptions;

  constructor(options: FileSecretSinkOptions) {
    this.#o = options;
  }

  #dir(ref: SecretFileRef): string {
    // Names come from validated resources, but a path never trusts its inputs.
    if (!SAFE_SEGMENT.test(ref.namespace) || !SAFE_SEGMENT.test(ref.secretName)) {
      throw new Error(`refusing unsafe secret path ${ref.namespace}/${ref.secretName}`);
    }
    return path.join(this.#o.outputDir, ref.namespace, ref.secretName);
  }

  async publish(ref: SecretFileRef, files: Readonly<Record<string, Uint8Array>>): Promise<void> {
    const dir = this.#dir(ref);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of PUBLISHED) {
      const data = files[name];
      const file = path.join(dir, name);
      if (data === undefined) {
        await rm(file, { force: true });
        continue;
      }
      // Keys are 0600; certificates are public. The folder is fsynced once, after all three.
      await writeFileAtomic(file, data, { mode: name === "tls.key" ? 0o600 : 0o644, fsync: true });
    }
    await fsyncDir(dir);
    await this.#runHook(ref);
  }

  async remove(ref: SecretFileRef): Promise<void> {
    const dir = this.#dir(ref);
    const exists = await stat(dir).then(() => true, () => false);
    if (!exists) return;
    await rm(dir, { recursive: true, force: true });
    await this.#runHook(ref);
  }

  #runHook(ref: SecretFileRef): Promise<void> {
    const argv = this.#o.hook;
    const cmd = argv?.[0];
    if (argv === undefined || cmd === undefined) return Promise.resolve();
    const report = (r: HookResult): void => this.#o.onHookResult?.(r);
    return new Promise((resolve) => {
      const child = spawn(cmd, argv.slice(1), {
        stdio: "ignore",
        shell: false,
        env: {
          ...process.env,
          MESHSIGN_CERTIFICATE_NAMESPACE: ref.namespace,
          MESHSIGN_CERTIFICATE_NAME: ref.certificateName,
          MESHSIGN_SECRET_NAME: ref.secretName,
          MESHSIGN_SECRET_DIR: this.#dir(ref),
        },
        timeout: this.#o.hookTimeoutMs ?? 30_000,
        killSignal: "SIGKILL",
      });
      child.once("error", (err) => {
        report({ ref, ok: false, exitCode: null, signal: null, error: err.message });
        resolve();
      });
      child.once("exit", (code, signal) => {
        report({ ref, ok: code === 0, exitCode: code, signal });
        resolve();
      });
    });
  }
}
