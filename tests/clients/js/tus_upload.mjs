// Upload one file with tus-js-client (its Node build: an fs.ReadStream source, Node's http).
// usage: node tus_upload.mjs '<json options>'
//   {endpoint, file, chunkSize, parallelUploads?, uploadUrl?, abortAt?, metadata?, protocol?,
//    buffer?}  (buffer: read the file into a Buffer source instead of an fs.ReadStream)
// Prints one JSON line: {"event": "success"|"aborted"|"error", "url", "bytesUploaded", ...}.
// With abortAt, the upload is aborted once that many bytes are reported sent (mid-request).
import fs from "node:fs";
import * as tus from "tus-js-client";

const options = JSON.parse(process.argv[2]);
const report = (event, extra) => {
  process.stdout.write(JSON.stringify({ event, ...extra }) + "\n");
};

const size = fs.statSync(options.file).size;
let aborted = false;
// tus-js-client 4.3.1's Node FileSource marks only a slice covering the whole file as the last
// one, so in its IETF modes a chunked fs.ReadStream never sends Upload-Complete: ?1; its Buffer
// source (like the browser's File source) does.
const source = options.buffer ? fs.readFileSync(options.file) : fs.createReadStream(options.file);
const upload = new tus.Upload(source, {
  endpoint: options.endpoint,
  uploadUrl: options.uploadUrl ?? null,
  chunkSize: options.chunkSize,
  protocol: options.protocol ?? "tus-v1",
  parallelUploads: options.parallelUploads ?? 1,
  uploadSize: (options.parallelUploads ?? 1) > 1 ? null : size,
  metadata: options.metadata ?? { filename: "random.bin", filetype: "application/octet-stream" },
  retryDelays: [200, 500, 1000],
  removeFingerprintOnSuccess: true,
  onProgress(bytesUploaded) {
    if (options.abortAt != null && !aborted && bytesUploaded >= options.abortAt) {
      aborted = true;
      upload.abort(false).then(() => report("aborted", { url: upload.url, bytesUploaded }));
    }
  },
  onSuccess() {
    report("success", { url: upload.url, bytesUploaded: size });
  },
  onError(error) {
    report("error", { url: upload.url, message: String(error) });
    process.exitCode = 1;
  },
});
upload.start();
