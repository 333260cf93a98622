// Types of the upslice browser client (dist/upslice.js, the same file as /static/upslice.js).

export type UploadState = "idle" | "hashing" | "uploading" | "paused" | "done" | "error" | "aborted";
export type HashAlgorithm = "md5" | "sha256";
/** Per-chunk `Upload-Checksum` algorithm (`true` means crc32c, `false` sends none). */
export type ChunkChecksum = "crc32c" | "crc32" | "md5" | boolean;

/** The server's task, as GET /api/task/{id} returns it. */
export interface Task {
  id: string;
  /** null while a task created without its hash waits for PUT /api/task/{id}/hash. */
  hash: string | null;
  hashPending?: boolean;
  hashAlgorithm: HashAlgorithm;
  fileName: string;
  fileType: string;
  fileSize: number;
  chunkSize: number;
  chunkCount: number;
  receivedChunks: number[];
  uploadedBytes: number;
  done: boolean;
  instant?: boolean;
  fileUrl?: string;
  challenge?: { algorithm: string; nonce: string; ranges: [number, number][] } | null;
  [field: string]: unknown;
}

export interface UploadOptions {
  /** Server root; default: the directory above the script (/static/ -> /). */
  endpoint?: string | URL | null;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | null;
  /** A proposal in bytes; the server may clamp it. */
  chunkSize?: number | null;
  concurrency?: number;
  /** Attempts per chunk or call before the upload stops in the error state. */
  retries?: number;
  /** ms; full jitter: random(0, min(maxRetryDelay, retryDelay * 2^n)), at least Retry-After. */
  retryDelay?: number;
  maxRetryDelay?: number;
  /** ms without progress (sending, or waiting for the reply) before a request is retried. */
  stallTimeout?: number;
  /** ms between status polls while another tab sends the same file. */
  followInterval?: number;
  /** `Upload-Checksum` with each chunk, computed in workers: "crc32c" (default), "crc32", "md5" or false. */
  checksum?: ChunkChecksum;
  hashAlgorithm?: HashAlgorithm;
  /**
   * Hash the whole file before creating the task (the old flow): instant upload before any byte
   * is sent. Default false: create the task at once, send chunks while a worker hashes the file,
   * declare the hash when known (instant takeover stops the upload early).
   */
  hashFirst?: boolean;
  hashSliceSize?: number;
  headers?: Record<string, string>;
  withCredentials?: boolean;
  metadata?: Record<string, string>;
  /** Where task ids and hashes are kept (default localStorage); null: no resume after reload. */
  storage?: Storage | null;
  /** The hash worker's script; default: hash-worker.js beside upslice.js, from any origin. */
  workerUrl?: string | URL | null;
}

export type UploadErrorCode =
  | "network_error"
  | "stalled"
  | "worker_error"
  | "read_error"
  | "client_error"
  | "incomplete"
  | "hash_mismatch"
  | "checksum_mismatch"
  | "too_large"
  | (string & {});

export class UploadError extends Error {
  constructor(message: string, init?: { status?: number; code?: string; details?: Record<string, unknown> });
  /** HTTP status; 0 when no reply came. */
  readonly status: number;
  readonly code: UploadErrorCode;
  readonly details: Record<string, unknown>;
  /** Whether resume() (or the client's own retry) may succeed. */
  readonly retriable: boolean;
}

export interface UploadEventMap {
  statechange: CustomEvent<{ state: UploadState }>;
  hashprogress: CustomEvent<{ loaded: number; total: number }>;
  task: CustomEvent<{
    task: Task;
    resumed: boolean;
    instant: boolean;
    proved: boolean;
    hashSkipped: boolean;
    remembered: boolean;
    /** Instant after chunks were already sent: the declared hash matched a file the server has. */
    takeover: boolean;
  }>;
  progress: CustomEvent<{
    loaded: number;
    total: number;
    speed: number;
    eta: number | null;
    chunksDone: number;
    chunkCount: number;
    retrying: number;
    following: boolean;
  }>;
  chunk: CustomEvent<{ index: number; task: Task }>;
  retry: CustomEvent<{ index: number | null; attempt: number; delay: number; error: UploadError }>;
  done: CustomEvent<{ task: Task; instant: boolean; fileUrl: string }>;
  error: CustomEvent<{ error: UploadError }>;
}

export class Upload extends EventTarget {
  constructor(file: File, options?: UploadOptions);
  readonly file: File;
  readonly options: Required<UploadOptions>;
  readonly endpoint: string;
  readonly state: UploadState;
  readonly task: Task | null;
  readonly hash: string | null;
  readonly instant: boolean;
  readonly proved: boolean;
  readonly takeover: boolean;
  readonly resumed: boolean;
  readonly hashSkipped: boolean;
  readonly remembered: boolean;
  readonly following: boolean;
  readonly error: UploadError | null;
  readonly retryCount: number;
  readonly retrying: number;
  readonly chunkCount: number;
  /** Acknowledged bytes plus bytes in flight; never goes back unless a chunk was refused. */
  readonly loaded: number;
  readonly storageKey: string;
  /** Resolves with the finished task, or null if aborted; stays pending through pause and error. */
  start(): Promise<Task | null>;
  pause(): void;
  resume(): void;
  /** Stop for good and delete the unfinished task on the server. */
  abort(): Promise<void>;
  addEventListener<K extends keyof UploadEventMap>(
    type: K,
    listener: (event: UploadEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof UploadEventMap>(
    type: K,
    listener: (event: UploadEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

export interface SavedUpload {
  name: string;
  size: number;
  lastModified: number;
  id: string;
  /** null while a task created without its hash waits for PUT /api/task/{id}/hash. */
  hash: string | null;
  hashPending?: boolean;
  hashAlgorithm: HashAlgorithm;
  done: boolean;
  savedAt: string;
}

/** The uploads this browser remembers for a server root (unfinished ones have done false). */
export function savedUploads(endpoint: string, storage?: Storage | null): SavedUpload[];

/** Hex sha256 of the challenge's nonce followed by the file's bytes in each range. */
export function possessionProof(
  file: Blob,
  challenge: { nonce: string; ranges: [number, number][] },
): Promise<string>;

export const DEFAULTS: Readonly<Required<UploadOptions>>;
