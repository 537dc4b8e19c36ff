#!/usr/bin/env node
// Entry point of the `meshsign` command. From a source checkout the TypeScript
// sources run through tsx (no build step after `npm ci`); an image built with
// `npm run build` ships dist/ without src/ and runs the compiled JavaScript.
import { existsSync } from "node:fs";

// The engine's store and Secret files fsync through libuv's thread pool; its default of 4 threads
// queued them behind each other and behind key generation (1,000 Certificates: 16.3 s -> 9.5 s
// with 16, docs/benchmarks.md). Must be set before the pool's first use; a user's value wins.
process.env.UV_THREADPOOL_SIZE ??= "16";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = `${root}src/cli/main.ts`;
if (existsSync(src)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(src).href);
} else {
  await import(pathToFileURL(`${root}dist/cli/main.js`).href);
}
