// Browser-side figures for the bench, in Debian's Chromium driven by playwright-core:
//   hashMBps    hash-wasm MD5 in the library's Web Worker over the chosen file
//   e2eMBps     the default flow end to end (choose file, start() -> done): the task is created
//               at once and the file hashed while its chunks travel (hashing included)
//   uploadMBps  `hashFirst: true`: its transfer phase (create task -> done, hashing excluded)
//   totalMBps   `hashFirst: true` end to end: hash the file, then upload it
// MB = 10^6 bytes. The server must be running: `upslice serve` (default chunk size applies unless
// --chunk-size is given; the page loads /static/upslice.js from it, --no-demo is fine). The file
// is on disk and chosen through an <input type=file>, as a user would; its first bytes change
// before every upload (and it is chosen again), so no upload is an instant one. Rounds alternate
// which flow goes first; each figure is the median of its rounds.
//
//   node bench/browser.mjs http://127.0.0.1:38080 [--hash-mib 256] [--upload-mib 256]
//        [--chunk-size BYTES] [--concurrency 4] [--algorithm md5|sha256]
//        [--checksum crc32c|crc32|md5|none] [--no-hash-first] [--rounds 3]
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const MiB = 1024 * 1024;

function parse(argv) {
  const options = {
    url: null, hashMiB: 256, uploadMiB: 256, chunkSize: null, concurrency: 4, algorithm: "md5",
    checksum: "crc32c", hashFirst: true, rounds: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => argv[++i];
    if (arg === "--hash-mib") options.hashMiB = Number(next());
    else if (arg === "--upload-mib") options.uploadMiB = Number(next());
    else if (arg === "--chunk-size") options.chunkSize = Number(next());
    else if (arg === "--concurrency") options.concurrency = Number(next());
    else if (arg === "--algorithm") options.algorithm = next();
    else if (arg === "--checksum") options.checksum = next();
    else if (arg === "--no-checksum") options.checksum = "none";
    else if (arg === "--no-hash-first") options.hashFirst = false;
    else if (arg === "--rounds") options.rounds = Number(next());
    else if (!arg.startsWith("--") && !options.url) options.url = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!options.url) throw new Error("usage: node bench/browser.mjs SERVER_URL [options]");
  return options;
}

/** A file of random bytes (16 MiB of them, repeated). */
function writeFile(path, mib) {
  const seed = randomBytes(16 * MiB);
  const fd = openSync(path, "w");
  for (let left = mib * MiB; left > 0; left -= seed.length) writeSync(fd, seed, 0, Math.min(left, seed.length));
  closeSync(fd);
}

/** New first bytes: another content (never an instant upload) and another lastModified. */
function touch(path) {
  const fd = openSync(path, "r+");
  writeSync(fd, randomBytes(64), 0, 64, 0);
  closeSync(fd);
}

const median = (values) => [...values].sort((a, b) => a - b)[(values.length - 1) >> 1];

/** Hash the chosen file in the library's worker: MB/s. */
function hashInPage(algorithm) {
  const file = document.querySelector("#pick").files[0];
  const worker = new Worker("/static/hash-worker.js", { type: "module" });
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === "done") resolve(file.size / 1e6 / (data.elapsedMs / 1000));
      if (data.type === "error") reject(new Error(data.message));
    };
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ type: "hash", file, algorithm });
  }).finally(() => worker.terminate());
}

/** Upload the chosen file with upslice.js: {uploadMBps, totalMBps, chunkSize, retries}. */
async function uploadInPage(o) {
  const { Upload } = await import("/static/upslice.js");
  const file = document.querySelector("#pick").files[0];
  const upload = new Upload(file, {
    storage: null,
    checksum: o.checksum === "none" ? false : o.checksum,
    concurrency: o.concurrency,
    hashAlgorithm: o.algorithm,
    hashFirst: o.hashFirst,
    ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}),
  });
  let uploadingSince = null;
  upload.addEventListener("statechange", () => {
    if (upload.state === "uploading" && uploadingSince === null) uploadingSince = performance.now();
  });
  const began = performance.now();
  const task = await Promise.race([
    upload.start(),
    new Promise((_, reject) =>
      upload.addEventListener("error", (e) => reject(new Error(e.detail.error.message))),
    ),
  ]);
  const ended = performance.now();
  if (task.instant) throw new Error("an instant upload: the bench file was not changed");
  return {
    uploadMBps: file.size / 1e6 / ((ended - uploadingSince) / 1000),
    totalMBps: file.size / 1e6 / ((ended - began) / 1000),
    chunkSize: task.chunkSize,
    retries: upload.retryCount,
  };
}

const options = parse(process.argv.slice(2));
const profile = mkdtempSync(join(tmpdir(), "upslice-bench-"));
const hashPath = join(profile, "hash.bin");
const uploadPath = join(profile, "upload.bin");
writeFile(hashPath, options.hashMiB);
writeFile(uploadPath, options.uploadMiB);
const context = await chromium.launchPersistentContext(join(profile, "chromium"), {
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
  await page.evaluate(() => {
    document.body.innerHTML = '<input id="pick" type="file">';
  });
  await page.setInputFiles("#pick", hashPath);
  const hashMBps = await page.evaluate(hashInPage, options.algorithm);

  const runs = { later: [], first: [] };
  for (let round = 0; round < options.rounds; round++) {
    const flows = options.hashFirst ? (round % 2 ? [true, false] : [false, true]) : [false];
    for (const hashFirst of flows) {
      touch(uploadPath);
      await page.setInputFiles("#pick", uploadPath); // chosen again: the browser's File is fresh
      runs[hashFirst ? "first" : "later"].push(await page.evaluate(uploadInPage, { ...options, hashFirst }));
    }
  }
  const round = (x) => (x === null ? null : Math.round(x * 10) / 10);
  const e2eMBps = median(runs.later.map((r) => r.totalMBps));
  console.log(JSON.stringify({
    hashMBps: round(hashMBps),
    e2eMBps: round(e2eMBps),
    e2eVsHash: Math.round((e2eMBps / hashMBps) * 100) / 100,
    uploadMBps: runs.first.length ? round(median(runs.first.map((r) => r.uploadMBps))) : null,
    totalMBps: runs.first.length ? round(median(runs.first.map((r) => r.totalMBps))) : null,
    hashAlgorithm: options.algorithm,
    hashBytes: options.hashMiB * MiB,
    uploadBytes: options.uploadMiB * MiB,
    chunkSize: runs.later[0].chunkSize,
    concurrency: options.concurrency,
    rounds: options.rounds,
    chunkChecksums: options.checksum,
    retries: [...runs.later, ...runs.first].reduce((n, r) => n + r.retries, 0),
    chromium: context.browser()?.version() ?? null,
  }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
