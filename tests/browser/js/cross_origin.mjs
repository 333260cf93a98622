// A page on another origin (a static server on localhost) uses upslice: from the upslice server's
// /static/upslice.js, with a hash worker that cannot load, and from the npm package it serves.
// args: {page, upslice, files: {remote, broken, packaged}}
import { scenario } from "./lib.mjs";

scenario(async (page, args) => {
  const authorization = new Set(); // what the chunk PUTs carried
  page.on("request", (request) => {
    if (request.method() === "PUT") authorization.add(request.headers().authorization ?? null);
  });
  await page.goto(args.page);
  await page.waitForFunction(() => window.ready);
  const run = async (file, moduleUrl, options) => {
    await page.setInputFiles("#files", file);
    return page.evaluate(([url, opts]) => window.uploadWith(url, opts), [moduleUrl, options]);
  };
  const served = new URL("static/upslice.js", args.upslice).href;
  const remote = await run(args.files.remote, served, {});
  const broken = await run(args.files.broken, served, { workerUrl: new URL("static/no-such-worker.js", args.upslice).href });
  const packaged = await run(args.files.packaged, "/node_modules/upslice-client/dist/upslice.js", {
    endpoint: args.upslice,
    token: "t0ken",
  });
  const origin = await page.evaluate(() => location.origin);
  return { origin, remote, broken, packaged, authorization: [...authorization] };
});
