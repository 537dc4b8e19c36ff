import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";

/** A private temporary directory for one test file; remove() it in afterAll. */
export class TempDir {
  readonly dir: string;

  constructor(prefix = "meshsign-test-") {
    this.dir = mkdtempSync(path.join(tmpdir(), prefix));
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  write(name: string, data: string | Uint8Array): string {
    const p = this.path(name);
    writeFileSync(p, data);
    return p;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * mkdtemp for a test file that makes directories as it goes: call it once at the top of the file;
 * every directory it made is removed after the file's tests (openssl scratch, Secret outputs, CA
 * keys), so test runs leave nothing in the system's temporary folder.
 */
export function tempDirs(): (prefix: string) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  return (prefix) => {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}

/** The repository root (test/lib/../..). */
export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
