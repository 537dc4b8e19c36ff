#!/usr/bin/env node
// `npm start`'s build step: compiles src/ to dist/ with tsc when a source changed since the last
// build (or nothing is built), and says so, since a first build takes about 10 s on a small machine
// and a silent pause reads as a hang. An up-to-date dist/ is used as it is.
"use strict";

const { spawnSync } = require("node:child_process");
const path = require("node:path");
const { builtFromCurrentSources } = require("./lib/built-from-current-sources.js");

const root = path.resolve(__dirname, "..");
if (builtFromCurrentSources(root, path.join(root, "dist/cli/main.js"))) {
  process.stderr.write("meshsign: dist/ is up to date with src/\n");
} else {
  process.stderr.write("meshsign: compiling src/ to dist/ with tsc (about 10 s on a first run; skipped while dist/ is up to date)...\n");
  const started = Date.now();
  // typescript's exports hide bin/tsc from require.resolve; it sits next to lib/.
  const tscBin = path.join(path.dirname(require.resolve("typescript")), "..", "bin", "tsc");
  const tsc = spawnSync(process.execPath, [tscBin, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root });
  if (tsc.status !== 0) {
    process.stderr.write(`meshsign: the build failed (tsc exited ${tsc.status ?? tsc.signal}); see the errors above\n`);
    process.exit(1);
  }
  process.stderr.write(`meshsign: compiled in ${((Date.now() - started) / 1000).toFixed(1)} s; starting\n`);
}
