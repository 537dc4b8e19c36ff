import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * A CreateCertificate worker process loads what its entry point imports
 * statically, and each module costs heap in every worker. This follows the
 * static imports of src/server/worker-main.ts (what `import` and `export ...
 * from` load at start-up; `import type` is erased, `await import()` is loaded
 * only when used) and checks that nothing of the primary's comes along.
 */
const SRC = path.resolve(import.meta.dirname, "../../src");

/** Static imports that load a module: not `import type` / `export type`; `import "x"` included. */
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^;]*?\s+from\s+)?["']([^"']+)["'];?/gm;

function staticImportGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    for (const [, spec = ""] of readFileSync(file, "utf8").matchAll(STATIC_IMPORT)) {
      if (spec.startsWith("node:")) continue;
      if (!spec.startsWith(".")) {
        const parts = spec.split("/");
        packages.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec));
        continue;
      }
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
      if (!existsSync(target))
        throw new Error(`${path.relative(SRC, file)} imports ${spec}, which is not in src/`);
      pending.push(target);
    }
  }
  return { files, packages };
}

describe("the CreateCertificate worker's entry point", () => {
  const graph = staticImportGraph(path.join(SRC, "server/worker-main.ts"));
  const relative = [...graph.files].map((f) => path.relative(SRC, f));

  it("reaches the CreateCertificate stack", () => {
    expect(relative).toContain("server/worker.ts");
    expect(relative).toContain("server/grpc-frontend.ts");
    expect(relative).toContain("csr-service/handler.ts");
    expect(graph.packages).toContain("@grpc/grpc-js");
  });

  it("loads none of the command line, the option table, the engine, the stores, ACME or the admin API", () => {
    const primaryOnly = relative.filter(
      (f) =>
        /^(cli|engine|store|acme|api|trust)\//.test(f) ||
        ["server/config.ts", "server/primary.ts", "server/serve.ts", "server/admin.ts"].includes(f),
    );
    expect(primaryOnly).toEqual([]);
  });

  it("loads none of the packages only the primary or the command line needs", () => {
    const heavy = [
      "commander",
      "reflect-metadata",
      "yaml",
      "zod",
      "jose",
      "@kubernetes/client-node",
      "@connectrpc/connect",
      "@connectrpc/connect-node",
      "@aws-sdk/client-route-53",
      "@peculiar/x509",
    ];
    expect([...graph.packages].filter((p) => heavy.includes(p))).toEqual([]);
  });
});
