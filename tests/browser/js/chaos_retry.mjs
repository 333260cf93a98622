// Upload through a server whose chaos mode resets replies and stalls: the page's own retry path
// must run (Chromium cannot hide these), and the file must still arrive whole.
// args: {url, file, query?}
import { demoUrl, onEveryNewUpload, scenario, waitAllDone } from "./lib.mjs";

scenario(async (page, args) => {
  await page.goto(demoUrl(args.url, args.query));
  await page.evaluate(() => (window.retryCodes = []));
  await onEveryNewUpload(page, (u) =>
    u.addEventListener("retry", ({ detail }) => window.retryCodes.push(detail.error.code)),
  );
  await page.setInputFiles("#files", args.file);
  const rows = await waitAllDone(page);
  return { rows, retryCodes: await page.evaluate(() => window.retryCodes) };
});
