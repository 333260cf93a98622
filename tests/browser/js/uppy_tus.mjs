// Uppy (the npm bundle `uppy`, dist/uppy.min.mjs) with @uppy/tus uploading one file in Chromium.
// args: {url, file, chunkSize, parallelUploads}
// The page, the bundle and the file are served by Playwright at the server's origin under
// /__uppy__/ (they never reach the server), so the upload is same-origin like a real app's.
// Prints {uploadUrls, failed, patches, posts}: the uploads' URLs, errors, and requests sent.
import { scenario } from "./lib.mjs";

scenario(async (page, args) => {
  const base = new URL("/__uppy__/", args.url).href;
  await page.route(`${base}**`, (route) => {
    const name = new URL(route.request().url()).pathname.split("/").pop();
    if (name === "uppy.min.mjs") {
      return route.fulfill({ path: "node_modules/uppy/dist/uppy.min.mjs", contentType: "text/javascript" });
    }
    if (name === "file.bin") return route.fulfill({ path: args.file, contentType: "application/octet-stream" });
    return route.fulfill({ body: "<!doctype html><title>uppy</title>", contentType: "text/html" });
  });
  const sent = { PATCH: 0, POST: 0 };
  page.on("request", (request) => {
    if (request.url().includes("/files/") && request.method() in sent) sent[request.method()] += 1;
  });
  await page.goto(`${base}index.html`);
  const outcome = await page.evaluate(async ({ endpoint, chunkSize, parallelUploads }) => {
    const { Uppy, Tus } = await import("/__uppy__/uppy.min.mjs");
    const data = await (await fetch("/__uppy__/file.bin")).blob();
    const uppy = new Uppy().use(Tus, { endpoint, chunkSize, parallelUploads, retryDelays: [200, 500] });
    uppy.addFile({ name: "random.bin", type: "application/octet-stream", data });
    const result = await uppy.upload();
    return {
      uploadUrls: result.successful.map((file) => file.uploadURL),
      failed: result.failed.map((file) => String(file.error)),
    };
  }, { endpoint: new URL("/files/", args.url).href, chunkSize: args.chunkSize, parallelUploads: args.parallelUploads });
  return { ...outcome, patches: sent.PATCH, posts: sent.POST };
});
