// The demo page: pick or drop files, watch them hash and upload, pause, resume, cancel.
// Query parameters preset the settings: ?chunkSize=65536&concurrency=4&hash=sha256&retryDelay=200
// (also stallTimeout=ms, hashFirst=1, checksum=crc32c|crc32|md5|none).
import { briefError, describeError, formatBytes, formatDuration, STATE_LABELS } from "./demo-format.js";
import { savedUploads, Upload } from "./upslice.js";


const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
const ENDPOINT = new URL("../", import.meta.url).href;
const uploads = [];
window.upsliceDemo = { uploads }; // for the browser tests and for poking around in the console

function settings() {
  const numeric = (name) => (params.get(name) ? { [name]: Number(params.get(name)) } : {});
  return {
    chunkSize: Number($("#chunk-size").value) || null,
    concurrency: Math.max(1, Number($("#concurrency").value) || 4),
    hashAlgorithm: $("#hash-algorithm").value,
    hashFirst: $("#hash-first").checked,
    ...(params.get("checksum") ? { checksum: params.get("checksum") === "none" ? false : params.get("checksum") } : {}),
    ...numeric("retryDelay"),
    ...numeric("stallTimeout"),
  };
}

function presetSettings() {
  if (params.get("chunkSize")) $("#chunk-size").value = params.get("chunkSize");
  if (params.get("concurrency")) $("#concurrency").value = params.get("concurrency");
  if (params.get("hash")) $("#hash-algorithm").value = params.get("hash");
  if (params.get("hashFirst")) $("#hash-first").checked = params.get("hashFirst") === "1";
}

/** One polite live region: screen readers hear state changes and errors, not every percent. */
function announce(text) {
  $("#announcer").textContent = text;
}

function cell(row, name) {
  return row.querySelector(`[data-cell="${name}"]`);
}

function button(row, action) {
  return row.querySelector(`[data-action="${action}"]`);
}

function makeRow(name, size) {
  const row = document.createElement("tr");
  row.dataset.name = name;
  row.innerHTML = `
    <th scope="row" class="name" data-cell="name" tabindex="-1"></th>
    <td class="num" data-cell="size" data-label="Size"></td>
    <td data-label="Hashing"><div class="bar hash"><progress max="1" value="0" data-cell="hash"></progress><span data-cell="hash-text">—</span></div></td>
    <td data-label="Upload"><div class="bar upload"><progress max="1" value="0" data-cell="upload"></progress><span data-cell="upload-text">—</span></div></td>
    <td class="num" data-cell="speed" data-label="Speed">—</td>
    <td class="num" data-cell="eta" data-label="Time left">—</td>
    <td class="status" data-label="State"><div class="state" data-cell="state"></div><div class="message" data-cell="message"></div></td>
    <td class="actions">
      <button type="button" data-action="pause">Pause</button>
      <button type="button" data-action="resume" hidden>Resume</button>
      <button type="button" data-action="cancel">Cancel</button>
      <a class="download" data-cell="download" hidden>Download</a>
    </td>`;
  cell(row, "name").textContent = name;
  cell(row, "name").title = name;
  cell(row, "size").textContent = formatBytes(size);
  cell(row, "hash").setAttribute("aria-label", `Hashing ${name}`);
  cell(row, "upload").setAttribute("aria-label", `Upload of ${name}`);
  for (const action of ["pause", "resume", "cancel"]) {
    const label = button(row, action).textContent;
    button(row, action).setAttribute("aria-label", `${label} ${name}`);
  }
  cell(row, "download").setAttribute("aria-label", `Download ${name}`);
  $("#uploads tbody").append(row);
  $("#uploads").hidden = false;
  $("#empty").hidden = true;
  return row;
}

function setBar(row, name, fraction, text) {
  cell(row, name).value = fraction;
  cell(row, `${name}-text`).textContent = text ?? `${Math.floor(fraction * 100)}%`;
}

function setState(row, state) {
  row.className = state;
  row.dataset.state = state;
  const label = cell(row, "state");
  label.className = `state ${state}`;
  label.textContent = STATE_LABELS[state] || state;
}

/** Show the buttons that fit the state; a pressed button that hides itself hands focus on. */
function renderState(row, upload) {
  const state = upload.state;
  const focused = row.contains(document.activeElement) ? document.activeElement : null;
  setState(row, state);
  const active = state === "hashing" || state === "uploading";
  button(row, "pause").hidden = !active;
  // a refused file (too large, changed while uploading...) will not do better on a second try
  const canRetry = state === "error" && (upload.error?.retriable || upload.error?.code === "incomplete");
  button(row, "resume").hidden = !(state === "paused" || canRetry);
  button(row, "cancel").hidden = state === "done" || state === "aborted";
  const link = cell(row, "download");
  if (state === "done" && upload.task?.fileUrl) {
    link.href = upload.task.fileUrl;
    link.download = upload.file.name;
  }
  link.hidden = state !== "done";
  if (!active) {
    cell(row, "speed").textContent = "—";
    cell(row, "eta").textContent = "—";
  }
  if (focused?.hidden) {
    const next = [...row.querySelectorAll(".actions button, .actions a")].find((el) => !el.hidden);
    (next || cell(row, "name")).focus();
  }
}

function listen(upload, row) {
  const name = upload.file.name;
  const message = (text) => (cell(row, "message").textContent = text);
  upload.addEventListener("statechange", () => {
    renderState(row, upload);
    const state = upload.state;
    if (state === "paused") message("Only the missing chunks will be sent on resume.");
    else if (state === "aborted") message("Cancelled; the partial upload was deleted.");
    else if (state === "hashing" || state === "uploading") message("");
    if (state !== "error") announce(`${name}: ${STATE_LABELS[state]}`);
  });
  upload.addEventListener("hashprogress", ({ detail }) =>
    setBar(row, "hash", detail.total ? detail.loaded / detail.total : 1),
  );
  upload.addEventListener("task", ({ detail }) => {
    if (detail.hashSkipped) setBar(row, "hash", 1, "saved");
    if (detail.remembered) message("Already uploaded from this browser: the server confirmed it, nothing was sent.");
    else if (detail.takeover) message("The server already had this file: the upload stopped early.");
    else if (detail.proved) message("The server already had this file and you proved you hold it: nothing was sent.");
    else if (detail.instant) message("The server already had this file: nothing was sent.");
    else if (detail.resumed) {
      const held = detail.task.receivedChunks.length;
      message(`Resuming: the server already holds ${held} of ${detail.task.chunkCount} chunks.`);
    }
  });
  let following = false;
  upload.addEventListener("progress", ({ detail }) => {
    setBar(row, "upload", detail.total ? detail.loaded / detail.total : 1);
    if (detail.following !== following) {
      following = detail.following;
      message(following ? "Another tab is sending this file; this one shows the server's progress." : "");
    }
    if (upload.state !== "uploading") return;
    cell(row, "speed").textContent = detail.speed ? `${formatBytes(detail.speed)}/s` : "—";
    cell(row, "eta").textContent = detail.retrying ? `retrying (${detail.retrying})…` : formatDuration(detail.eta);
  });
  upload.addEventListener("retry", ({ detail }) => {
    const what = detail.index === null ? "a request" : `chunk ${detail.index + 1}`;
    cell(row, "eta").title = `Retrying ${what} after ${briefError(detail.error)}.`;
  });
  upload.addEventListener("done", ({ detail }) => {
    setBar(row, "upload", 1);
    if (!detail.instant && !upload.remembered) message(upload.resumed ? "Uploaded (resumed)." : "Uploaded and verified.");
  });
  upload.addEventListener("error", ({ detail }) => {
    message(describeError(detail.error));
    announce(`${name} failed: ${describeError(detail.error)}`);
  });
}

function addFile(file) {
  const upload = new Upload(file, settings());
  uploads.push(upload);
  for (const old of document.querySelectorAll('tr[data-state="unfinished"]')) {
    if (old.dataset.name === file.name) old.remove(); // chosen again: this row takes its place
  }
  const row = makeRow(file.name, file.size);
  button(row, "pause").onclick = () => upload.pause();
  button(row, "resume").onclick = () => upload.resume();
  button(row, "cancel").onclick = () => upload.abort();
  listen(upload, row);
  renderState(row, upload);
  upload.start();
}

/** After a reload: the uploads this browser left unfinished, until their file is chosen again. */
function listUnfinished() {
  for (const saved of savedUploads(ENDPOINT)) {
    if (saved.done) continue;
    const row = makeRow(saved.name, saved.size);
    setState(row, "unfinished");
    row.querySelector(".actions").replaceChildren();
    cell(row, "message").textContent = "Unfinished — choose the file again to resume.";
  }
}

function addFiles(files) {
  for (const file of files) addFile(file);
}

presetSettings();
listUnfinished();
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
