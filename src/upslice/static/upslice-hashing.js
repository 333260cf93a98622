// upslice browser client: the hash workers (whole-file hash, chunk checksums) and the possession proof.
import { AbortedError, UploadError } from "./upslice-http.js";

function workerFailure(why) {
  return new UploadError(`The hashing worker failed: ${why}`, { code: "worker_error" });
}

/**
 * A module worker running hash-worker.js, from whatever origin the page has.
 *
 * A page may only start a worker from its own origin, so a page that imports this module from
 * another origin (a CDN, the upslice server) gets a same-origin blob: worker that imports the
 * real one (which needs CORS, as the import of this module did). Same-origin pages get the
 * literal `new Worker(new URL(...), {type: "module"})` form, which Vite and webpack bundle.
 */
export function startWorker(workerUrl) {
  try {
    const url = workerUrl ? new URL(workerUrl, globalThis.location?.href) : new URL("./hash-worker.js", import.meta.url);
    if (url.origin === globalThis.location?.origin) {
      return workerUrl ? new Worker(url, { type: "module" }) : new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    }
    const source = `import ${JSON.stringify(url.href)};\n`;
    const blobUrl = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const worker = new Worker(blobUrl, { type: "module" });
    setTimeout(() => URL.revokeObjectURL(blobUrl), 60000); // long after the worker has loaded it
    return worker;
  } catch (error) {
    throw workerFailure(`it could not be started (${error?.message || error})`);
  }
}

/**
 * Chunk checksums (CRC-32 or MD5) in a small pool of workers shared by every upload on the page:
 * the page stays smooth, and several chunks are checked at once, so the checks never hold back
 * the four request lanes.
 */
const POOL_SIZE = 2;
const pool = { url: null, workers: [], next: 0, waiting: new Map() };

function poolWorker(workerUrl) {
  if (pool.url !== String(workerUrl)) {
    for (const { worker } of pool.workers) worker.terminate();
    pool.workers = [];
    pool.url = String(workerUrl);
  }
  if (pool.workers.length < POOL_SIZE) {
    const entry = { worker: startWorker(workerUrl), busy: 0 };
    entry.worker.onmessage = ({ data }) => {
      const waiter = pool.waiting.get(data.id);
      pool.waiting.delete(data.id);
      if (!waiter) return;
      entry.busy--;
      if (data.error) waiter.reject(new UploadError(`The file could not be read: ${data.error}`, { code: "read_error" }));
      else waiter.resolve(data.digest);
    };
    entry.worker.onerror = (event) => {
      const error = workerFailure(event.message || "its script could not be loaded");
      for (const [id, waiter] of pool.waiting) {
        if (waiter.entry !== entry) continue;
        pool.waiting.delete(id);
        waiter.reject(error);
      }
      pool.workers = pool.workers.filter((other) => other !== entry);
    };
    pool.workers.push(entry);
    return entry;
  }
  return pool.workers.reduce((least, entry) => (entry.busy < least.busy ? entry : least));
}

/** Base64 digest of `blob` for `Upload-Checksum: <algorithm> <base64>`; algorithm crc32c | crc32 | md5. */
export function chunkChecksum(workerUrl, blob, algorithm = "crc32c") {
  const entry = poolWorker(workerUrl);
  const id = pool.next++;
  entry.busy++;
  return new Promise((resolve, reject) => {
    pool.waiting.set(id, { resolve, reject, entry });
    entry.worker.postMessage({ type: "checksum", id, blob, algorithm });
  });
}

/** The whole file's hash in a worker of its own; pause() holds it where it is. */
export class FileHasher {
  constructor(file, { workerUrl, algorithm, sliceSize, onProgress }) {
    this.worker = startWorker(workerUrl);
    this.result = new Promise((resolve, reject) => {
      this.reject = reject;
      this.worker.onmessage = ({ data }) => {
        if (data.type === "progress") onProgress(data.loaded, data.total);
        else if (data.type === "done") {
          this.stop();
          resolve(data.hash);
        } else if (data.type === "error") {
          this.stop();
          reject(new UploadError(`The file could not be read: ${data.message}`, { code: "read_error" }));
        }
      };
      this.worker.onerror = (event) => {
        this.stop();
        reject(workerFailure(event.message || "its script could not be loaded"));
      };
    });
    this.worker.postMessage({ type: "hash", file, algorithm, sliceSize });
  }

  pause() {
    this.worker?.postMessage({ type: "pause" });
  }

  resume() {
    this.worker?.postMessage({ type: "resume" });
  }

  stop() {
    this.worker?.terminate();
    this.worker = null;
  }

  abort() {
    this.stop();
    this.reject(new AbortedError());
  }
}

/** Hex sha256 of the challenge's nonce followed by the file's bytes in each range, in order. */
export async function possessionProof(file, challenge) {
  const nonce = new Uint8Array(challenge.nonce.match(/../g).map((byte) => parseInt(byte, 16)));
  const parts = [nonce, ...challenge.ranges.map(([start, end]) => file.slice(start, end))];
  const bytes = await new Blob(parts).arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
