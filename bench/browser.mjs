// Browser-side figures for the bench, in Debian's Chromium driven by playwright-core:
//   hashMBps    hash-wasm MD5 in the library's Web Worker over an in-memory Blob
//   uploadMBps  the browser client's transfer phase (create task -> done, hashing excluded)
//   totalMBps   the same upload including its hashing pass
// MB = 10^6 bytes. The server must be running: `upslice serve` (default chunk size applies unless
// --chunk-size is given; the page loads /static/upslice.js from it, --no-demo is fine).
//
//   node bench/browser.mjs http://127.0.0.1:38080 [--hash-mib 256] [--upload-mib 256]
//        [--chunk-size BYTES] [--concurrency 4] [--algorithm md5|sha256] [--no-checksum]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

function parse(argv) {
  const options = { url: null, hashMiB: 256, uploadMiB: 256, chunkSize: null, concurrency: 4, algorithm: "md5", checksum: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => argv[++i];
    if (arg === "--hash-mib") options.hashMiB = Number(next());
    else if (arg === "--upload-mib") options.uploadMiB = Number(next());
    else if (arg === "--chunk-size") options.chunkSize = Number(next());
    else if (arg === "--concurrency") options.concurrency = Number(next());
    else if (arg === "--algorithm") options.algorithm = next();
    else if (arg === "--no-checksum") options.checksum = false;
    else if (!arg.startsWith("--") && !options.url) options.url = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!options.url) throw new Error("usage: node bench/browser.mjs SERVER_URL [options]");
  return options;
}

const options = parse(process.argv.slice(2));
const profile = mkdtempSync(join(tmpdir(), "upslice-bench-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.UPSLICE_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(new URL("/health", options.url).href); // any page of the server's origin
  const result = await page.evaluate(async (o) => {
    const MiB = 1024 * 1024;
    const seed = new Uint8Array(16 * MiB);
    for (let i = 0; i < seed.length; i += 65536) crypto.getRandomValues(seed.subarray(i, i + 65536));
    const makeBlob = (mib) => {
      const unique = crypto.getRandomValues(new Uint8Array(64)); // never an instant upload
      const parts = [unique];
      for (let left = mib * MiB - unique.length; left > 0; left -= seed.length) {
        parts.push(left >= seed.length ? seed : seed.subarray(0, left));
      }
      return new Blob(parts);
    };

    const hashBlob = makeBlob(o.hashMiB);
    const worker = new Worker("/static/hash-worker.js", { type: "module" });
    const hashed = await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.type === "done") resolve(data);
        if (data.type === "error") reject(new Error(data.message));
      };
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ type: "hash", file: hashBlob, algorithm: o.algorithm });
    });
    worker.terminate();

    const { Upload } = await import("/static/upslice.js");
    const file = new File([makeBlob(o.uploadMiB)], `bench-${Date.now()}.bin`, { lastModified: Date.now() });
    const upload = new Upload(file, {
      storage: null,
      checksum: o.checksum,
      concurrency: o.concurrency,
      hashAlgorithm: o.algorithm,
      ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}),
    });
    let uploadingSince = null;
    upload.addEventListener("statechange", () => {
      if (upload.state === "uploading" && uploadingSince === null) uploadingSince = performance.now();
    });
    const began = performance.now();
    upload.addEventListener("error", (e) => console.error(e.detail.error.message));
    const task = await Promise.race([
      upload.start(),
      new Promise((_, reject) =>
        upload.addEventListener("error", (e) => reject(new Error(e.detail.error.message))),
      ),
    ]);
    const ended = performance.now();
    const mb = (bytes) => bytes / 1e6;
    return {
      hashMBps: mb(hashBlob.size) / (hashed.elapsedMs / 1000),
      uploadMBps: mb(file.size) / ((ended - uploadingSince) / 1000),
      totalMBps: mb(file.size) / ((ended - began) / 1000),
      hashAlgorithm: o.algorithm,
      hashBytes: hashBlob.size,
      uploadBytes: file.size,
      chunkSize: task.chunkSize,
      concurrency: o.concurrency,
      chunkChecksums: o.checksum,
      retries: upload.retryCount,
      instant: task.instant,
    };
  }, options);
  const round = (x) => Math.round(x * 10) / 10;
  console.log(JSON.stringify({
    ...result,
    hashMBps: round(result.hashMBps),
    uploadMBps: round(result.uploadMBps),
    totalMBps: round(result.totalMBps),
    chromium: context.browser()?.version() ?? null,
  }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
