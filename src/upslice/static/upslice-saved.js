// upslice browser client: what this browser remembers about uploads, in localStorage.
//
// One entry per file (name, size, lastModified) and server: the task id and the file's hash, so
// that a reload resumes without hashing again, and a finished file chosen again is confirmed
// with the server instead of hashed and sent again.

const PREFIX = "upslice:";

export function defaultStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled by the browser
  }
}

export function storageKey(endpoint, file) {
  return `${PREFIX}${endpoint}|${file.name}|${file.size}|${file.lastModified}`;
}

export function load(storage, key) {
  try {
    const raw = storage?.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function save(storage, key, entry) {
  try {
    storage?.setItem(key, JSON.stringify({ ...entry, savedAt: new Date().toISOString() }));
  } catch {
    // full or disabled storage: the upload still works, only reload-resume is lost
  }
}

export function forget(storage, key) {
  try {
    storage?.removeItem(key);
  } catch {
    // as above
  }
}

/**
 * The uploads this browser remembers for `endpoint`: {name, size, lastModified, id, hash, done,
 * savedAt}. Unfinished ones (done false) resume when the user chooses the same file again.
 */
export function savedUploads(endpoint, storage = defaultStorage()) {
  const prefix = `${PREFIX}${endpoint}|`;
  const found = [];
  try {
    for (let i = 0; i < (storage?.length ?? 0); i++) {
      const key = storage.key(i);
      if (!key?.startsWith(prefix)) continue;
      const entry = load(storage, key);
      if (entry?.id && typeof entry.name === "string") found.push({ done: false, ...entry });
    }
  } catch {
    return found;
  }
  return found.sort((a, b) => String(a.savedAt).localeCompare(String(b.savedAt)));
}
