// Upload files through the demo page as one user of a host app (x-user header on every request),
// counting chunk PUTs and proof POSTs.
// args: {page: the demo page's URL, user, files: [paths], throttle?: bytes/s}
import { scenario, snapshot, throttle, waitAllDone } from "./lib.mjs";

scenario(async (page, args, context) => {
  await context.setExtraHTTPHeaders({ "x-user": args.user });
  const sent = { chunks: 0, proofs: 0 };
  page.on("request", (request) => {
    if (request.method() === "PUT" && /\/api\/task\/[^/]+\/chunk\/\d+$/.test(request.url())) sent.chunks++;
    if (request.method() === "POST" && /\/api\/task\/[^/]+\/proof$/.test(request.url())) sent.proofs++;
  });
  await page.goto(args.page);
  if (args.throttle) await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.files);
  const rows = await waitAllDone(page);
  const proved = await page.evaluate(() => window.upsliceDemo.uploads.map((u) => u.proved));
  return { rows, proved, sent, final: await snapshot(page) };
});
