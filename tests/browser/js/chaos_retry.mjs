// Upload through a server whose chaos mode resets replies and stalls: the page's own retry path
// must run (Chromium cannot hide these), and the file must still arrive whole.
// args: {url, file, query?}
import { demoUrl, scenario, waitAllDone } from "./lib.mjs";

scenario(async (page, args) => {
  await page.goto(demoUrl(args.url, args.query));
  await page.setInputFiles("#files", args.file);
  await page.evaluate(() => {
    window.retryCodes = [];
    window.upsliceDemo.uploads[0].addEventListener("retry", ({ detail }) => window.retryCodes.push(detail.error.code));
  });
  const rows = await waitAllDone(page);
  return { rows, retryCodes: await page.evaluate(() => window.retryCodes) };
});
