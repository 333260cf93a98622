// @uppy/xhr-upload from the `uppy` bundle (node_modules, unchanged) posting files to
// POST /api/upload, one request per file (the default) and all in one (`bundle: true`).
// args: {url, files: [paths]}
import { readFileSync } from "node:fs";
import { scenario } from "./lib.mjs";

const PAGE = `<!doctype html><meta charset="utf-8"><title>uppy form</title>
<input type="file" id="files" multiple>
<script src="/__uppytest/uppy.min.js"></script>`;

async function upload(page, files, options) {
  await page.setInputFiles("#files", files);
  return page.evaluate(async (opts) => {
    const uppy = new Uppy.Uppy({ autoProceed: false });
    uppy.use(Uppy.XHRUpload, { endpoint: "/api/upload", ...opts });
    const successes = [];
    uppy.on("upload-success", (file, response) => {
      successes.push({ name: file.name, uploadURL: response.uploadURL ?? null, body: response.body });
    });
    for (const file of document.getElementById("files").files) {
      uppy.addFile({ name: file.name, type: file.type, data: file, source: "test" });
    }
    const result = await uppy.upload();
    return { successes, failed: result.failed.map((f) => `${f.name}: ${f.error}`) };
  }, options);
}

scenario(async (page, args) => {
  await page.route("**/__uppytest/**", (route) => {
    const name = new URL(route.request().url()).pathname.split("/").pop();
    if (name === "uppy.min.js") {
      const body = readFileSync("node_modules/uppy/dist/uppy.min.js");
      return route.fulfill({ contentType: "text/javascript", body });
    }
    return route.fulfill({ contentType: "text/html", body: PAGE });
  });
  await page.goto(new URL("/__uppytest/", args.url).href);
  const single = await upload(page, args.files, {});
  await page.reload();
  const bundled = await upload(page, args.files, { bundle: true });
  return { single, bundled };
});
