// Type-checked (never run) against the npm package's upslice.d.ts by tests/browser/test_cross_origin.py.
import { DEFAULTS, savedUploads, Upload, UploadError, type Task } from "upslice-client";

export async function send(file: File): Promise<Task | null> {
  const upload = new Upload(file, { endpoint: "https://files.example/", token: "t", concurrency: DEFAULTS.concurrency });
  upload.addEventListener("progress", (event) => {
    const share: number = event.detail.loaded / event.detail.total;
    const retrying: number = event.detail.retrying;
    console.log(share, retrying, event.detail.following);
  });
  upload.addEventListener("error", (event) => {
    const error: UploadError = event.detail.error;
    console.log(error.code, error.retriable);
  });
  const unfinished = savedUploads(upload.endpoint).filter((saved) => !saved.done);
  console.log(unfinished.map((saved) => saved.name));
  // @ts-expect-error a misspelt option is an error
  new Upload(file, { concurency: 4 });
  new Upload(file, { hashFirst: true, checksum: "md5" });
  // @ts-expect-error sha256 is a whole-file hash, not a per-chunk checksum here
  new Upload(file, { checksum: "sha256" });
  upload.addEventListener("task", (event) => {
    const hash: string | null = event.detail.task.hash;
    console.log(hash, event.detail.takeover);
  });
  return upload.start();
}
