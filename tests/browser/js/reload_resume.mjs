// Reload the page in the middle of an upload, choose the same file again: it resumes without
// hashing again and sends only the chunks the server does not hold.
// args: {url, file, query?, throttle, reloadAt?: 0..1}
import { demoUrl, health, scenario, snapshot, task, throttle, waitAllDone, waitProgress } from "./lib.mjs";

scenario(async (page, args, context) => {
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.file);
  await waitProgress(page, args.reloadAt ?? 0.4);
  const [before] = await snapshot(page);
  await page.reload(); // in-flight chunk requests die with the page
  await page.waitForTimeout(500);
  const saved = await page.evaluate(() =>
    Object.keys(localStorage)
      .filter((key) => key.startsWith("upslice:"))
      .map((key) => ({ key, value: JSON.parse(localStorage.getItem(key)) })),
  );
  const countersAtReload = await health(args.url);
  const heldAtReload = await task(args.url, before.taskId);
  await page.setInputFiles("#files", args.file);
  const rows = await waitAllDone(page);
  const countersAfter = await health(args.url);
  const savedAfter = await page.evaluate(() =>
    Object.keys(localStorage).filter((key) => key.startsWith("upslice:")),
  );
  return { before, saved, countersAtReload, heldAtReload, rows, countersAfter, savedAfter };
});
