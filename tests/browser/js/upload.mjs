// Upload files through the demo page; optionally throttled, with a screenshot mid-upload.
// args: {url, files: [paths], query?, throttle?: bytes/s, screenshot?: path, screenshotAt?: 0..1,
//        expectError?: true (wait for every upload to fail instead)}
// Returns the rows, the first PUT headers of each chunk, and the other API calls in order.
import { demoUrl, scenario, snapshot, throttle, waitAllDone, waitProgress } from "./lib.mjs";

function json(request) {
  try {
    return request.postDataJSON();
  } catch {
    return null; // not JSON
  }
}

scenario(async (page, args, context) => {
  const chunkHeaders = {}; // "<task id>/<index>" -> the headers of the first PUT of that chunk
  const calls = []; // every other API request: {method, path, body}, in order
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    const match = /\/api\/task\/([^/]+)\/chunk\/(\d+)$/.exec(path);
    if (request.method() === "PUT" && match) chunkHeaders[`${match[1]}/${match[2]}`] ??= request.headers();
    else if (path.startsWith("/api/")) calls.push({ method: request.method(), path, body: json(request) });
  });
  await page.goto(demoUrl(args.url, args.query));
  if (args.throttle) await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.files);
  let midway = null;
  if (args.screenshot) {
    await waitProgress(page, args.screenshotAt ?? 0.4);
    await page.waitForFunction( // an upload under way shows the rate it measured
      () => [...document.querySelectorAll('tr[data-state="uploading"] [data-cell="speed"]')]
        .some((cell) => cell.textContent.endsWith("/s")),
      null,
      { polling: 50, timeout: 60000 },
    );
    midway = await snapshot(page);
    await page.screenshot({ path: args.screenshot, fullPage: true });
  }
  if (args.expectError) {
    await page.waitForFunction(() => window.upsliceDemo.uploads.every((u) => u.state === "error"));
    const resumeVisible = await page.isVisible('button[data-action="resume"]');
    return { rows: await snapshot(page), resumeVisible };
  }
  const rows = await waitAllDone(page, args.timeoutMs);
  return { rows, midway, chunkHeaders, calls };
});
