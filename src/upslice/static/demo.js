// The demo page: pick or drop files, watch them hash and upload, pause, resume, cancel.
// Query parameters preset the settings: ?chunkSize=65536&concurrency=4&hash=sha256&retryDelay=200
import { Upload } from "./upslice.js";

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
const uploads = [];
window.upsliceDemo = { uploads }; // for the browser tests and for poking around in the console

const STATE_LABELS = {
  idle: "Waiting",
  hashing: "Fingerprinting",
  uploading: "Uploading",
  paused: "Paused",
  done: "Done",
  error: "Failed",
  aborted: "Cancelled",
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

function describeError(error) {
  if (PLAIN_ERRORS[error.code]) return PLAIN_ERRORS[error.code];
  if (error.status >= 500) return `The server had a problem (${error.status}). Press Resume to try again.`;
  return error.message;
}

function briefError(error) {
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

function formatDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (seconds < 1) return "< 1 s";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

function settings() {
  const chunkSize = Number($("#chunk-size").value) || null;
  return {
    chunkSize,
    concurrency: Math.max(1, Number($("#concurrency").value) || 4),
    hashAlgorithm: $("#hash-algorithm").value,
    ...(params.get("retryDelay") ? { retryDelay: Number(params.get("retryDelay")) } : {}),
  };
}

function presetSettings() {
  if (params.get("chunkSize")) $("#chunk-size").value = params.get("chunkSize");
  if (params.get("concurrency")) $("#concurrency").value = params.get("concurrency");
  if (params.get("hash")) $("#hash-algorithm").value = params.get("hash");
}

function cell(row, name) {
  return row.querySelector(`[data-cell="${name}"]`);
}

function makeRow(upload) {
  const row = document.createElement("tr");
  row.dataset.name = upload.file.name;
  row.innerHTML = `
    <td class="name" data-cell="name"></td>
    <td class="num" data-cell="size"></td>
    <td><div class="bar hash"><progress max="1" value="0" data-cell="hash"></progress><span data-cell="hash-text">—</span></div></td>
    <td><div class="bar upload"><progress max="1" value="0" data-cell="upload"></progress><span data-cell="upload-text">—</span></div></td>
    <td class="num" data-cell="speed">—</td>
    <td class="num" data-cell="eta">—</td>
    <td><div class="state" data-cell="state"></div><div class="message" data-cell="message"></div></td>
    <td class="actions">
      <button type="button" data-action="pause">Pause</button>
      <button type="button" data-action="resume" hidden>Resume</button>
      <button type="button" data-action="cancel">Cancel</button>
      <a class="download" data-cell="download" hidden>Download</a>
    </td>`;
  cell(row, "name").textContent = upload.file.name;
  cell(row, "name").title = upload.file.name;
  cell(row, "size").textContent = formatBytes(upload.file.size);
  row.querySelector('[data-action="pause"]').onclick = () => upload.pause();
  row.querySelector('[data-action="resume"]').onclick = () => upload.resume();
  row.querySelector('[data-action="cancel"]').onclick = () => upload.abort();
  return row;
}

function setBar(row, name, fraction, text) {
  cell(row, name).value = fraction;
  cell(row, `${name}-text`).textContent = text ?? `${Math.floor(fraction * 100)}%`;
}

function renderState(row, upload) {
  const state = upload.state;
  row.className = state;
  row.dataset.state = state;
  const label = cell(row, "state");
  label.className = `state ${state}`;
  label.textContent = STATE_LABELS[state] || state;
  const active = state === "hashing" || state === "uploading";
  row.querySelector('[data-action="pause"]').hidden = !active;
  // a refused file (too large, changed while uploading...) will not do better on a second try
  const canRetry = state === "error" && (upload.error?.retriable || upload.error?.code === "incomplete");
  row.querySelector('[data-action="resume"]').hidden = !(state === "paused" || canRetry);
  row.querySelector('[data-action="cancel"]').hidden = state === "done" || state === "aborted";
  if (!active) {
    cell(row, "speed").textContent = "—";
    cell(row, "eta").textContent = "—";
  }
}

function addFile(file) {
  const upload = new Upload(file, settings());
  uploads.push(upload);
  const row = makeRow(upload);
  $("#uploads tbody").append(row);
  $("#uploads").hidden = false;
  $("#empty").hidden = true;
  const message = (text) => (cell(row, "message").textContent = text);

  upload.addEventListener("statechange", () => renderState(row, upload));
  upload.addEventListener("hashprogress", ({ detail }) =>
    setBar(row, "hash", detail.total ? detail.loaded / detail.total : 1),
  );
  upload.addEventListener("task", ({ detail }) => {
    if (detail.hashSkipped) setBar(row, "hash", 1, "saved");
    if (detail.instant) message("The server already had this file: nothing was sent.");
    else if (detail.resumed) {
      const held = detail.task.receivedChunks.length;
      message(`Resuming: the server already holds ${held} of ${detail.task.chunkCount} chunks.`);
    }
  });
  upload.addEventListener("progress", ({ detail }) => {
    setBar(row, "upload", detail.total ? detail.loaded / detail.total : 1);
    if (upload.state === "uploading") {
      cell(row, "speed").textContent = detail.speed ? `${formatBytes(detail.speed)}/s` : "—";
      cell(row, "eta").textContent = formatDuration(detail.eta);
    }
  });
  let retrying = false;
  upload.addEventListener("retry", ({ detail }) => {
    const what = detail.index === null ? "a request" : `chunk ${detail.index + 1}`;
    const wait = (detail.delay / 1000).toFixed(1);
    retrying = true;
    message(`Retrying ${what} after ${briefError(detail.error)} (attempt ${detail.attempt}, in ${wait} s).`);
  });
  upload.addEventListener("chunk", () => {
    if (retrying) message("");
    retrying = false;
  });
  upload.addEventListener("done", ({ detail }) => {
    const link = cell(row, "download");
    link.href = detail.fileUrl;
    link.download = upload.file.name;
    link.hidden = false;
    setBar(row, "upload", 1);
    if (!detail.instant) message(upload.resumed ? "Uploaded (resumed)." : "Uploaded and verified.");
  });
  upload.addEventListener("error", ({ detail }) => message(describeError(detail.error)));
  upload.addEventListener("statechange", () => {
    if (upload.state === "paused") message("Paused. Only the missing chunks will be sent on resume.");
    if (upload.state === "aborted") message("Cancelled; the partial upload was deleted.");
    if (upload.state === "uploading" && cell(row, "message").textContent.startsWith("Paused")) message("");
  });
  renderState(row, upload);
  upload.start();
}

function addFiles(files) {
  for (const file of files) addFile(file);
}

presetSettings();
const input = $("#files");
input.addEventListener("change", () => {
  addFiles(input.files);
  input.value = ""; // choosing the same file again starts another upload
});
const zone = $("#dropzone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  addFiles(event.dataTransfer.files);
});
