// upslice browser client: resumable, parallel, chunked uploads to an upslice server (tasks API).
//
//   import { Upload } from "/static/upslice.js";
//   const upload = new Upload(file, { chunkSize: 8 << 20, token: "…" });
//   upload.addEventListener("progress", (e) => console.log(e.detail.loaded, e.detail.speed));
//   const task = await upload.start(); // resolves when done (null if aborted)
//
// Events (CustomEvent, data in `detail`; the README has their exact meaning):
//   statechange {state}              idle | hashing | uploading | paused | done | error | aborted
//   hashprogress {loaded, total}
//   task        {task, resumed, instant, proved, hashSkipped, remembered, takeover}   task known
//   progress    {loaded, total, speed, eta, chunksDone, chunkCount, retrying, following}
//   chunk       {index, task}
//   retry       {index, attempt, delay, error}   delay in ms
//   done        {task, instant, fileUrl}
//   error       {error}                           an UploadError; resume() tries again
//
// Hash while uploading (the default): the task is created without its hash and chunks flow at
// once, while a worker hashes the same file; the hash is declared (PUT .../hash) when known, and
// if the server already has the file it answers done + instant and the upload stops early.
// `hashFirst: true` hashes before creating the task instead: instant upload before any byte.
//
// Only missing chunks travel: after pause, error or a page reload the client asks the server
// which chunks it holds and sends the rest, skipping any chunk a reply lists as received. A
// reload finds its task in localStorage (by name, size, lastModified). Two tabs with the same
// file share one task: one sends (it holds a Web Lock), the other follows the server's progress
// and takes over if the first one stops.
//
// A task of a file over one chunk whose hash is known comes with a challenge: the client answers
// it with sha256(nonce + the file's bytes in the given ranges), and if the server holds the file
// (for anyone) the task is done at once (`instant` and `proved`). Needs crypto.subtle (a secure
// context: https or localhost); without it the file is simply sent.
import { FileHasher, possessionProof } from "./upslice-hashing.js";
import { AbortedError, UploadError } from "./upslice-http.js";
import { defaultStorage, forget, load, save, savedUploads, storageKey } from "./upslice-saved.js";
import { sleep, Transport } from "./upslice-transport.js";

export { possessionProof, savedUploads, UploadError };

const MiB = 1024 * 1024;
const GONE = new Set([403, 404, 410]); // a saved task the server no longer has (for us)

export const DEFAULTS = Object.freeze({
  endpoint: null, // server root; default: the directory above this script (/static/ -> /)
  token: null, // sent as `Authorization: Bearer <token>`
  chunkSize: null, // a proposal; the server may clamp it, and its answer wins
  concurrency: 4,
  retries: 8, // per chunk, before the upload stops in the error state
  retryDelay: 500, // ms; full jitter: sleep random(0, min(maxRetryDelay, retryDelay * 2^n))
  maxRetryDelay: 20000,
  stallTimeout: 30000, // ms without progress (sending, or waiting for the reply) before a retry
  followInterval: 1000, // ms between status polls while another tab sends the same file
  checksum: "crc32c", // per-chunk `Upload-Checksum`: "crc32c" | "crc32" | "md5" | false (true: crc32c)
  hashAlgorithm: "md5", // whole-file hash: md5 | sha256
  hashFirst: false, // hash the whole file before creating the task (instant before any byte)
  hashSliceSize: 8 * MiB,
  headers: {}, // extra request headers
  withCredentials: false,
  metadata: {},
  storage: undefined, // a Storage (default localStorage), or null for no resume after reload
  workerUrl: null, // default: hash-worker.js beside this script, from any origin
});

function withSlash(url) {
  return url.endsWith("/") ? url : `${url}/`;
}

export class Upload extends Transport {
  constructor(file, options = {}) {
    const merged = { ...DEFAULTS, ...options, headers: { ...(options.headers || {}) } };
    super(file, merged);
    if (this.options.token) this.options.headers.Authorization = `Bearer ${this.options.token}`;
    this.endpoint = withSlash(String(this.options.endpoint || new URL("..", import.meta.url)));
    this.storage = this.options.storage === undefined ? defaultStorage() : this.options.storage;
    this.hash = null;
    this.instant = false;
    this.proved = false; // instant because the server accepted our proof of possession
    this.takeover = false; // instant after chunks were already sent (the hash came later)
    this.resumed = false;
    this.hashSkipped = false;
    this.remembered = false; // this browser had finished it before, and the server confirmed it
    this._hasher = null;
    this._declaring = null; // {run, promise}: hash, then declare it (hash-later tasks)
    this._finished = new Promise((resolve) => {
      this._resolveFinished = resolve;
    });
  }

  /** Begin (create or find the task, send chunks, hash). Resolves with the done task, or null
   * if aborted; it stays pending through pauses and errors, which resume() recovers from. */
  start() {
    if (this.state === "idle") this._go();
    return this._finished;
  }

  pause() {
    if (this.state !== "hashing" && this.state !== "uploading") return;
    this._stop();
    this._hasher?.pause();
    this._setState("paused");
    this._progress(true);
  }

  resume() {
    if (this.state !== "paused" && this.state !== "error") return;
    this._hasher?.resume();
    this._go();
  }

  /** Stop for good and delete the unfinished task on the server. */
  abort() {
    if (this.state === "done" || this.state === "aborted") return Promise.resolve();
    this._stop();
    this._hasher?.abort();
    this._hasher = null;
    forget(this.storage, this.storageKey);
    this._setState("aborted");
    this._resolveFinished(null);
    if (!this.task || this.task.done) return Promise.resolve();
    return this._request("DELETE", `api/task/${this.task.id}`).catch(() => {});
  }

  get storageKey() {
    return storageKey(this.endpoint, this.file);
  }

  // ---- the run ------------------------------------------------------------------------------

  async _go() {
    const run = ++this._run;
    this.error = null;
    try {
      const fresh = !this.task;
      if (fresh) await this._prepare(run); // the saved task, or the hash to create one with
      this._check(run);
      if (!this.task?.done) await this._upload(run, fresh);
      this._check(run);
      this._finish();
    } catch (error) {
      if (run !== this._run || error instanceof AbortedError) return; // paused or aborted
      this._fail(error);
    }
  }

  async _prepare(run) {
    const saved = load(this.storage, this.storageKey);
    if (saved) {
      this._setState("uploading");
      try {
        const task = await this._call(run, "GET", `api/task/${saved.id}`);
        if (task.fileSize === this.file.size && (!saved.hash || task.hash === saved.hash)) {
          this.hash = saved.hash || null; // a task found by hash-later may not have one yet
          this.hashSkipped = Boolean(saved.hash);
          this.resumed = !task.done;
          this.remembered = Boolean(task.done);
          this._adopt(task);
          this._announce();
          return;
        }
      } catch (error) {
        if (!GONE.has(error.status)) throw error;
      }
      this._check(run);
      forget(this.storage, this.storageKey); // the server no longer has it; the hash is still good
      if (saved.hash && saved.hashAlgorithm === this.options.hashAlgorithm) {
        this.hash = saved.hash;
        this.hashSkipped = true;
      }
    }
    if (!this.hash && this.options.hashFirst) {
      this._setState("hashing");
      this.hash = await this._hashFile();
      this._check(run);
    }
  }

  /** The whole file's hash from the worker; progress as `hashprogress`; pause() holds it. */
  _hashFile() {
    const hasher = (this._hasher ??= new FileHasher(this.file, {
      workerUrl: this.options.workerUrl,
      algorithm: this.options.hashAlgorithm,
      sliceSize: this.options.hashSliceSize,
      onProgress: (loaded, total) => this._emit("hashprogress", { loaded, total }),
    }));
    const settle = () => {
      if (this._hasher === hasher && !hasher.worker) this._hasher = null; // done or failed
    };
    return hasher.result.then(
      (hash) => {
        settle();
        this.hash = hash;
        return hash;
      },
      (error) => {
        settle();
        throw error;
      },
    );
  }

  /** Create the task (with its hash if known), or find the one the server has for this hash. */
  async _create(run) {
    const { body, status } = await this._call(run, "POST", "api/task", {
      json: {
        ...(this.hash ? { hash: this.hash } : {}),
        hashAlgorithm: this.options.hashAlgorithm,
        fileName: this.file.name || "blob",
        fileType: this.file.type || "application/octet-stream",
        fileSize: this.file.size,
        ...(this.options.chunkSize ? { chunkSize: this.options.chunkSize } : {}),
        metadata: this.options.metadata,
      },
      withStatus: true,
    });
    this._check(run);
    this.resumed = status === 200;
    this.instant = Boolean(body.instant);
    this._adopt(body);
    if (this.hash) await this._prove(run);
    this._remember();
    this._announce();
  }

  /** Answer the task's challenge if sending the rest costs more than one chunk. */
  async _prove(run) {
    const task = this.task;
    const challenge = task.challenge;
    const left = this.file.size - this._truth();
    if (task.done || challenge?.algorithm !== "sha256" || left <= task.chunkSize) return;
    if (!globalThis.crypto?.subtle) return;
    const proof = await possessionProof(this.file, challenge);
    this._check(run);
    this._adopt(await this._call(run, "POST", `api/task/${task.id}/proof`, { json: { proof } }));
    this.proved = Boolean(this.task.instant);
    this.instant ||= this.proved;
  }

  /**
   * Hash-later: hash the file beside the chunks and declare the hash when known. A done answer
   * (the server has the file: instant) cuts the chunks in flight. A failure fails the upload.
   */
  _startDeclaring(run) {
    if (this.task.done || this.task.hash || this._declaring?.run === run) return;
    const promise = (this.hash ? Promise.resolve(this.hash) : this._hashFile()).then(async (hash) => {
      this._check(run);
      const task = await this._call(run, "PUT", `api/task/${this.task.id}/hash`, {
        json: { hash, hashAlgorithm: this.options.hashAlgorithm },
      });
      this._check(run);
      this._adopt(task);
      if (!task.done) await this._prove(run);
      this._remember();
      if (this.task.done && this.task.instant) {
        this.instant = this.takeover = true;
        this._cut(); // stop sending: the server has the file
        this._announce();
      }
    });
    promise.catch((error) => {
      if (run === this._run && !(error instanceof AbortedError)) this._fail(error);
    });
    this._declaring = { run, promise };
  }

  /** All chunks are in: a hash-later task completes once its hash is declared. */
  async _beforeComplete(run) {
    if (this._declaring?.run === run) await this._declaring.promise;
  }

  /**
   * One tab sends a file (it holds the Web Lock named by the server and the file, by hash when
   * hashing first); a tab with the same file meanwhile follows the task the sender saved, and
   * takes over if it stops. The lock is taken before the task is created: two tabs never create
   * or send it twice.
   */
  async _upload(run, fresh) {
    const locks = globalThis.navigator?.locks;
    if (!locks) return this._lead(run, fresh);
    const name = this.options.hashFirst
      ? `upslice:${this.endpoint}${this.options.hashAlgorithm}:${this.hash}`
      : this.storageKey;
    for (;;) {
      const led = await locks.request(name, { ifAvailable: true }, async (lock) => {
        if (!lock) return false;
        await this._lead(run, fresh && !this.following);
        return true;
      });
      if (led) return;
      this._follow(true);
      await this._watch(run);
      if (this.task?.done) return;
      await sleep(this.options.followInterval);
      this._check(run);
    }
  }

  async _lead(run, fresh) {
    this._setState("uploading");
    if (!this.task) await this._create(run);
    else if (!fresh) await this._refresh(run);
    this._check(run);
    this._follow(false);
    if (this.task.done) return;
    this._startDeclaring(run);
    await this._send(run);
  }

  async _refresh(run) {
    this._setState("uploading");
    const task = await this._call(run, "GET", `api/task/${this.task.id}`);
    const before = this._received;
    this._received = new Set(task.receivedChunks);
    this._adopt(task);
    if ([...before].some((index) => !this._received.has(index))) this._lost(); // refused since
  }

  /** Following: the task that the sending tab saved, as the server sees it now. */
  async _watch(run) {
    this._setState("uploading");
    const saved = this.task ? null : load(this.storage, this.storageKey);
    const same = saved && (!this.hash || saved.hash === this.hash);
    const id = this.task?.id ?? (same ? saved.id : null);
    if (!id) return; // not created yet
    const known = Boolean(this.task);
    try {
      this._adopt(await this._call(run, "GET", `api/task/${id}`));
    } catch (error) {
      if (GONE.has(error.status)) return; // stale
      throw error;
    }
    if (known) this._progress(true);
    else this._announce();
  }

  _follow(following) {
    if (this.following === following) return;
    this.following = following;
    this._progress(true);
  }

  _finish() {
    this._hasher?.abort(); // done without our hash (another tab sent it): no need to finish it
    this._hasher = null;
    this._remember();
    this._inflight.clear();
    this.following = false;
    this._setState("done");
    this._progress(true);
    this._emit("done", { task: this.task, instant: this.instant, fileUrl: this.task.fileUrl });
    this._resolveFinished(this.task);
  }

  _fail(error) {
    this._stop();
    this.error =
      error instanceof UploadError ? error : new UploadError(String(error?.message || error), { code: "client_error" });
    if (this.error.code === "hash_mismatch") forget(this.storage, this.storageKey); // the hash is wrong
    this._setState("error");
    this._progress(true);
    this._emit("error", { error: this.error });
  }

  _announce() {
    this._emit("task", {
      task: this.task,
      resumed: this.resumed,
      instant: this.instant,
      proved: this.proved,
      hashSkipped: this.hashSkipped,
      remembered: this.remembered,
      takeover: this.takeover,
    });
    this._progress(true);
  }

  /** Keep the task id (and the hash once known): a reload resumes, a finished file is confirmed. */
  _remember() {
    const { name, size, lastModified } = this.file;
    save(this.storage, this.storageKey, {
      id: this.task.id,
      hash: this.hash,
      hashAlgorithm: this.options.hashAlgorithm,
      name,
      size,
      lastModified,
      done: Boolean(this.task.done),
    });
  }
}
