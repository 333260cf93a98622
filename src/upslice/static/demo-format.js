// The demo page's words and numbers: states, plain-language errors, sizes and durations.

export const STATE_LABELS = {
  idle: "Waiting",
  hashing: "Fingerprinting",
  uploading: "Uploading",
  paused: "Paused",
  done: "Done",
  error: "Failed",
  aborted: "Cancelled",
  unfinished: "Unfinished",
};

const PLAIN_ERRORS = {
  network_error: "Could not reach the server. Check the connection, then press Resume.",
  stalled: "The connection stalled. Press Resume to try again.",
  hash_mismatch: "The file changed while it was uploading, so it was not accepted. Choose it again.",
  not_found: "The server no longer has this upload (it may have expired). Choose the file again.",
  too_large: "The file is larger than this server accepts.",
  insufficient_storage: "The server has run out of disk space.",
  read_error: "The browser could not read the file. It may have been moved or deleted.",
  worker_error: "This browser could not start the hashing worker.",
  forbidden: "You are not allowed to upload here.",
};

export function describeError(error) {
  if (PLAIN_ERRORS[error.code]) return PLAIN_ERRORS[error.code];
  if (error.status >= 500) return `The server had a problem (${error.status}). Press Resume to try again.`;
  return error.message;
}

/** What went wrong on the last retry, for the tooltip of "retrying (n)…". */
export function briefError(error) {
  if (error.code === "network_error") return "a dropped connection";
  if (error.code === "stalled") return "a stalled connection";
  if (error.code === "checksum_mismatch") return "a chunk damaged in transit";
  if (error.status >= 500) return `a server error (${error.status})`;
  return `“${error.message}”`;
}

export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (seconds < 1) return "< 1 s";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}
