// upslice browser client: one HTTP request as a promise, and the error it fails with.

const RETRIABLE_STATUSES = new Set([0, 408, 423, 425, 429, 500, 502, 503, 504]);

export class UploadError extends Error {
  constructor(message, { status = 0, code = "network_error", details = {} } = {}) {
    super(message);
    this.name = "UploadError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  get retriable() {
    if (this.code === "checksum_mismatch" || this.code === "stalled") return true;
    if (this.status === 409) return this.code === "conflict"; // the same chunk still in flight
    return RETRIABLE_STATUSES.has(this.status);
  }
}

/** A pause or abort cut the work short: never reported as an error. */
export class AbortedError extends Error {}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function failure(xhr, data) {
  const { code, message, ...details } = (data && data.error) || {};
  const retryAfter = Number(xhr.getResponseHeader("Retry-After"));
  if (retryAfter > 0) details.retryAfter = retryAfter;
  return new UploadError(message || `The server answered ${xhr.status} ${xhr.statusText}.`, {
    status: xhr.status,
    code: code || `http_${xhr.status}`,
    details,
  });
}

/**
 * One XMLHttpRequest (fetch cannot report upload progress); resolves with the parsed JSON (or
 * {body, status}), rejects with UploadError. `stallTimeout` ms without any progress, sending or
 * waiting for the reply, aborts it as `stalled`: a server that takes the body and never answers
 * must not hang the upload. `live` holds the requests a pause must abort.
 */
export function request(live, url, options = {}) {
  const { method = "GET", json, body, headers = {}, withCredentials = false } = options;
  const { onProgress, stallTimeout = 0, withStatus = false } = options;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.withCredentials = withCredentials;
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    let stall = null;
    let stalled = false;
    const watch = () => {
      clearTimeout(stall);
      if (!stallTimeout) return;
      stall = setTimeout(() => {
        stalled = true;
        xhr.abort();
      }, stallTimeout);
    };
    if (body != null) {
      // (upload listeners make a cross-origin request preflighted: only where there is a body)
      xhr.upload.onprogress = (event) => {
        watch();
        onProgress?.(event.loaded);
      };
      xhr.upload.onload = watch; // the body is out: the reply must begin within stallTimeout too
    }
    xhr.onprogress = watch;
    xhr.onreadystatechange = watch;
    const done = () => {
      clearTimeout(stall);
      live.delete(xhr);
    };
    xhr.onload = () => {
      done();
      const data = parse(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve(withStatus ? { body: data, status: xhr.status } : data);
      else reject(failure(xhr, data));
    };
    xhr.onerror = () => {
      done();
      reject(new UploadError("The connection to the server failed.", { code: "network_error" }));
    };
    xhr.onabort = () => {
      done();
      reject(stalled ? new UploadError("The connection stalled.", { code: "stalled" }) : new AbortedError());
    };
    live.add(xhr);
    watch();
    if (json !== undefined) {
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(JSON.stringify(json));
    } else {
      xhr.send(body ?? null);
    }
  });
}

/** Full jitter: random(0, min(max, base * 2^attempt)), but never sooner than Retry-After. */
export function backoff(attempt, error, { retryDelay, maxRetryDelay }) {
  const ceiling = Math.min(maxRetryDelay, retryDelay * 2 ** attempt);
  const retryAfter = Math.min((error.details.retryAfter || 0) * 1000, maxRetryDelay);
  return Math.max(Math.random() * ceiling, retryAfter);
}
