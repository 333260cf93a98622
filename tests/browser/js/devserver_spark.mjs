// The spark-md5 create-task flow on a page from a second loopback origin (a dev server): one
// file with raw-body chunks, one with FormData chunks.
// args: {page, raw, form} — the page's URL and the two files
import { scenario } from "./lib.mjs";

scenario(async (page, args) => {
  const failed = [];
  page.on("requestfailed", (request) => failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
  await page.goto(args.page);
  const results = {};
  for (const mode of ["raw", "form"]) {
    await page.setInputFiles("#file", args[mode]);
    results[mode] = await page.evaluate((m) => window.uploadWith(m), mode);
  }
  return { origin: new URL(args.page).origin, results, failed };
});
