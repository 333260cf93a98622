// Upload files through the demo page; optionally throttled, with a screenshot mid-upload.
// args: {url, files: [paths], query?, throttle?: bytes/s, screenshot?: path, screenshotAt?: 0..1,
//        expectError?: true (wait for every upload to fail instead)}
import { demoUrl, scenario, snapshot, throttle, waitAllDone, waitProgress } from "./lib.mjs";

scenario(async (page, args, context) => {
  const chunkHeaders = {}; // "<task id>/<index>" -> the headers of the first PUT of that chunk
  page.on("request", (request) => {
    const match = /\/api\/task\/([^/]+)\/chunk\/(\d+)$/.exec(request.url());
    if (request.method() === "PUT" && match) chunkHeaders[`${match[1]}/${match[2]}`] ??= request.headers();
  });
  await page.goto(demoUrl(args.url, args.query));
  if (args.throttle) await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.files);
  let midway = null;
  if (args.screenshot) {
    await waitProgress(page, args.screenshotAt ?? 0.4);
    await page.waitForTimeout(600); // let the speed and time-left columns settle
    midway = await snapshot(page);
    await page.screenshot({ path: args.screenshot, fullPage: true });
  }
  if (args.expectError) {
    await page.waitForFunction(() => window.upsliceDemo.uploads.every((u) => u.state === "error"));
    const resumeVisible = await page.isVisible('button[data-action="resume"]');
    return { rows: await snapshot(page), resumeVisible };
  }
  const rows = await waitAllDone(page, args.timeoutMs);
  return { rows, midway, chunkHeaders };
});
