#!/usr/bin/env node
// Entry point of the `meshsign` command. It runs the compiled JavaScript in
// dist/ when that is built from the current sources (`npm start` builds first;
// the image ships dist/ without src/), else the TypeScript sources through tsx
// (no build step needed after `npm ci`, and never a stale build).
//
// This file is CommonJS on purpose (bin/package.json): an ES module entry is
// read through libuv's thread pool before its first line runs, so a pool size
// set there is ignored. Here it is set before anything touches the pool.
"use strict";

// The engine's store and Secret files fsync through libuv's thread pool, behind key generation and
// each other; 4 threads (the default) queue them. A user's value wins.
process.env.UV_THREADPOOL_SIZE ??= "16";

// Start-up (loading ~600 modules, the CA and serving-certificate set-up) keeps most of what it
// allocates, and V8 answers that survival rate by doubling the young generation up to 16 MB
// semi-spaces, which a server then holds until V8's memory reducer runs ~8 s later: the primary
// peaked at ~112 MB RSS instead of ~85 MB. Growth is off until then; `serve` turns it back on
// (src/server/lib/startup-heap.ts: V8's default factor) before the engine's manifests and the
// load. A factor the user gives on node's command line wins (node refuses it in NODE_OPTIONS).
const givenByUser = process.execArgv.some((a) => /^--semi[-_]space[-_]growth[-_]factor\b/i.test(a));
if (!givenByUser) {
  require("node:v8").setFlagsFromString("--semi-space-growth-factor=1");
  globalThis[Symbol.for("meshsign.startupYoungGeneration")] = true;
}

const path = require("node:path");
const { pathToFileURL } = require("node:url");
const { builtFromCurrentSources } = require("./lib/built-from-current-sources.js");

// A CreateCertificate worker that `meshsign serve` forked runs only its own entry point: no command
// line, configuration readers, engine or admin API (src/server/worker-main.ts).
const entry = require("node:cluster").isWorker ? "server/worker-main" : "cli/main";

async function main() {
  const root = path.resolve(__dirname, "..");
  if (!builtFromCurrentSources(root, path.join(root, "dist/cli/main.js"))) {
    const src = path.join(root, `src/${entry}.ts`);
    const { register } = await import("tsx/esm/api");
    register();
    await import(pathToFileURL(src).href);
  } else {
    await import(pathToFileURL(path.join(root, `dist/${entry}.js`)).href);
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
