#!/usr/bin/env node
// Entry point of the `meshsign` command. From a source checkout the TypeScript
// sources run through tsx (no build step after `npm ci`); an image built with
// `npm run build` ships dist/ without src/ and runs the compiled JavaScript.
import { existsSync } from "node:fs";
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
