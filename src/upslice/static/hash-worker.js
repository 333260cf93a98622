// Hashing off the main thread: a whole File in slices (never holding more than two of them), or
// one chunk's CRC-32C, CRC-32 or MD5 for its Upload-Checksum header.
//
// in:  {type: "hash", file, algorithm: "md5" | "sha256", sliceSize}
//      {type: "pause"} | {type: "resume"} | {type: "cancel"}
//      {type: "checksum", id, blob, algorithm?: "crc32c" | "crc32" | "md5"}
// out: {type: "progress", loaded, total}
//      {type: "done", hash, algorithm, elapsedMs}
//      {type: "error", message}
//      {type: "checksum", id, digest: <base64 digest>} | {type: "checksum", id, error}
import { crc32, createMD5, createSHA256, md5 } from "./vendor/hash-wasm.esm.min.js";

const HASHERS = { md5: createMD5, sha256: createSHA256 };
// hex digests; hash-wasm's crc32 hex is the 4 big-endian bytes that `Upload-Checksum: crc32` wants.
// CRC-32C is the same code with Castagnoli's polynomial: the server computes one of every chunk
// anyway, so checking it costs the server nothing.
const CASTAGNOLI = 0x82f63b78;
const CHECKSUMS = { crc32c: (data) => crc32(data, CASTAGNOLI), crc32, md5 };
const PROGRESS_EVERY_MS = 100;

let paused = false;
let cancelled = false;
let wake = null;

function waitWhilePaused() {
  if (!paused) return Promise.resolve();
  return new Promise((resolve) => {
    wake = resolve;
  });
}

async function hashFile(file, algorithm, sliceSize) {
  const create = HASHERS[algorithm];
  if (!create) throw new Error(`unsupported hash algorithm ${algorithm}`);
  const hasher = await create();
  hasher.init();
  const started = performance.now();
  const total = file.size;
  const read = (offset) =>
    offset < total ? file.slice(offset, offset + sliceSize).arrayBuffer() : null;
  let offset = 0;
  let pending = read(0);
  let reported = 0;
  while (pending) {
    const buffer = await pending;
    offset += buffer.byteLength;
    pending = read(offset); // the next read overlaps this slice's hashing
    hasher.update(new Uint8Array(buffer));
    const now = performance.now();
    if (now - reported >= PROGRESS_EVERY_MS || offset === total) {
      reported = now;
      postMessage({ type: "progress", loaded: offset, total });
    }
    await waitWhilePaused();
    if (cancelled) return;
  }
  if (total === 0) postMessage({ type: "progress", loaded: 0, total: 0 });
  postMessage({
    type: "done",
    hash: hasher.digest("hex"),
    algorithm,
    elapsedMs: performance.now() - started,
  });
}

async function checksum(id, blob, algorithm) {
  try {
    const digest = CHECKSUMS[algorithm];
    if (!digest) throw new Error(`unsupported checksum algorithm ${algorithm}`);
    const hex = await digest(new Uint8Array(await blob.arrayBuffer()));
    let binary = "";
    for (let i = 0; i < hex.length; i += 2) binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
    postMessage({ type: "checksum", id, digest: btoa(binary) });
  } catch (error) {
    postMessage({ type: "checksum", id, error: String(error && error.message) });
  }
}

self.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case "hash":
      hashFile(message.file, message.algorithm || "md5", message.sliceSize || 8 << 20).catch(
        (error) => postMessage({ type: "error", message: String(error && error.message) }),
      );
      break;
    case "checksum":
      checksum(message.id, message.blob, message.algorithm || "md5");
      break;
    case "pause":
      paused = true;
      break;
    case "resume":
    case "cancel":
      cancelled = message.type === "cancel";
      paused = false;
      if (wake) wake();
      wake = null;
      break;
  }
};
