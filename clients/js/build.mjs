// Copies the browser client, as the upslice server serves it at /static/, into dist/: one source
// for both. Runs on `npm pack`, `npm publish` and `npm install` inside this folder.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "..", "..", "src", "upslice", "static");
const dist = join(here, "dist");
const FILES = [
  "upslice.js",
  "upslice-http.js",
  "upslice-hashing.js",
  "upslice-saved.js",
  "upslice-meter.js",
  "upslice-transport.js",
  "hash-worker.js",
  "vendor/hash-wasm.esm.min.js",
  "vendor/hash-wasm.LICENSE",
];

rmSync(dist, { recursive: true, force: true });
for (const name of FILES) {
  mkdirSync(dirname(join(dist, name)), { recursive: true });
  cpSync(join(source, name), join(dist, name));
}
console.log(`upslice-client: ${FILES.length} files copied into dist/`);
