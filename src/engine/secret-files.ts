/**
 * Standalone mode: every Secret the engine writes is also published as files,
 * `<out>/<namespace>/<secret>/{tls.crt,tls.key,ca.crt}`, so Envoy or nginx on
 * a plain VM can use them, with an optional hook command run after each
 * change. Kubernetes mode does not use this (the Secret is the output).
 */
import { spawn } from "node:child_process";
import { constants, existsSync } from "node:fs";
import { type FileHandle, lstat, mkdir, open, rm, unlink } from "node:fs/promises";
import path from "node:path";
import { MeshsignError } from "../errors/index.js";
import { writeFileAtomic } from "../fsutil/index.js";

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

  /**
   * Writes through no symbolic link below the output dir: each folder is
   * opened with O_NOFOLLOW relative to the one above it (Linux's
   * /proc/self/fd), so a folder swapped for a link between a check and the
   * write cannot redirect `tls.key`; the files themselves are created
   * exclusively and renamed into place, which replaces a link rather than
   * following it.
   */
  async publish(ref: SecretFileRef, files: Readonly<Record<string, Uint8Array>>): Promise<void> {
    this.#dir(ref); // validates the names
    const dir = await openBelow(this.#o.outputDir, [ref.namespace, ref.secretName], true);
    if (dir === undefined) throw new Error(`${this.#dir(ref)} kept vanishing while it was created`);
    try {
      for (const name of PUBLISHED) {
        const data = files[name];
        const file = `${dir.path}/${name}`;
        if (data === undefined) {
          // unlink, not rm: rm's lstat and checks cost more than the one call it makes here.
          await unlink(file).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== "ENOENT") throw err;
          });
          continue;
        }
        // Keys are 0600; certificates are public. The folder is fsynced once, after all three.
        await writeFileAtomic(file, data, { mode: name === "tls.key" ? 0o600 : 0o644, fsync: true });
      }
      await dir.handle?.sync();
    } finally {
      await dir.handle?.close();
    }
    await this.#runHook(ref);
  }

  async remove(ref: SecretFileRef): Promise<void> {
    this.#dir(ref);
    const parent = await openBelow(this.#o.outputDir, [ref.namespace], false);
    if (parent === undefined) return;
    try {
      const target = `${parent.path}/${ref.secretName}`;
      const exists = await lstat(target).then(() => true, () => false);
      if (!exists) return;
      // rm never follows a link it removes; the folder above was opened without following any.
      await rm(target, { recursive: true, force: true });
    } finally {
      await parent.handle?.close();
    }
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

/** Linux: a folder opened by handle can be named through /proc/self/fd/<fd> (openat for Node). */
const PROC_FD = existsSync("/proc/self/fd");

/**
 * Opens `root/<parts...>` one folder at a time without following a symbolic
 * link below `root` (the output dir itself may be a link: the operator chose
 * it), creating missing folders (0700) when `create`. Returns a path to use
 * for the files in it and, on Linux, the handle that pins it (close it);
 * undefined when a folder is missing and `create` is false.
 */
async function openBelow(root: string, parts: readonly string[], create: boolean): Promise<{ path: string; handle: FileHandle | undefined } | undefined> {
  if (!PROC_FD) {
    // Elsewhere: check each component with lstat (a swap between check and write is not caught).
    if (create) await mkdir(root, { recursive: true, mode: 0o700 });
    let p = root;
    for (const part of parts) {
      p = path.join(p, part);
      const st = await lstat(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
        return undefined;
      });
      if (st === undefined) {
        if (!create) return undefined;
        await mkdir(p, { mode: 0o700 });
      } else if (!st.isDirectory()) {
        throw linkRefused(root, p, st.isSymbolicLink());
      }
    }
    return { path: p, handle: undefined };
  }
  let handle: FileHandle;
  try {
    handle = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (!create) return undefined;
    // Made only when missing: a recursive mkdir on every publish cost about as much of the
    // JavaScript thread as writing a file.
    await mkdir(root, { recursive: true, mode: 0o700 });
    handle = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  }
  let shown = root;
  try {
    for (const part of parts) {
      const at = `/proc/self/fd/${handle.fd}/${part}`;
      shown = path.join(shown, part);
      let next: FileHandle | undefined;
      for (let attempt = 0; next === undefined; attempt++) {
        try {
          next = await open(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT" && create && attempt < 3) {
            await mkdir(at, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
              if (e.code !== "EEXIST") throw e;
            });
            continue;
          }
          if (code === "ENOENT") return undefined;
          if (code === "ELOOP" || code === "ENOTDIR") {
            const link = await lstat(at).then((st) => st.isSymbolicLink(), () => true);
            throw linkRefused(root, shown, link);
          }
          throw err;
        }
      }
      await handle.close();
      handle = next;
    }
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { path: `/proc/self/fd/${handle.fd}`, handle };
}

function linkRefused(root: string, at: string, link: boolean): MeshsignError {
  return new MeshsignError(
    "ERR_CONFIG_INVALID",
    `refusing to write Secret files: ${at} is ${link ? "a symbolic link" : "not a directory"}; every folder under the output dir ${root} must be a real directory (meshsign never writes tls.key through a link)`,
    { detail: { outputDir: root, path: at }, retry: "transient" },
  );
}
