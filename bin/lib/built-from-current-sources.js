"use strict";
// Shared by bin/meshsign.js (which JavaScript to run) and bin/build.js (whether `npm start` compiles).

const { existsSync, readdirSync, statSync } = require("node:fs");
const path = require("node:path");

/** `compiled` exists and no file under `<root>/src` changed after it was written. */
function builtFromCurrentSources(root, compiled) {
  if (!existsSync(compiled)) return false;
  const srcDir = path.join(root, "src");
  if (!existsSync(srcDir)) return true;
  const builtAt = statSync(compiled).mtimeMs;
  for (const entry of readdirSync(srcDir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs > builtAt)
      return false;
  }
  return true;
}

module.exports = { builtFromCurrentSources };
