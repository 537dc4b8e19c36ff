import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

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

/** The repository root (test/lib/../..). */
export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
