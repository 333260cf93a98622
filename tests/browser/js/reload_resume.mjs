// Reload the page in the middle of an upload, choose the same file again: it resumes (without
// hashing again, if the hash was known) and sends only the chunks the server does not hold.
// args: {url, file, query?, throttle, reloadAt?: 0..1,
//        holdWorker?: true (the hash worker's script loads only after the reload),
//        waitSavedHash?: true (reload only once the hash is declared and saved)}
import { demoUrl, health, scenario, snapshot, task, throttle, waitAllDone, waitProgress, waitServerIdle } from "./lib.mjs";

scenario(async (page, args, context) => {
  let release = () => {};
  if (args.holdWorker) {
    const released = new Promise((resolve) => (release = resolve));
    await page.route("**/static/hash-worker.js", async (route) => {
      await released;
      await route.continue().catch(() => {}); // the page that asked may be gone
    });
  }
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.file);
  await waitProgress(page, args.reloadAt ?? 0.4);
  if (args.waitSavedHash) {
    await page.waitForFunction(
      () => Object.keys(localStorage).some((key) => key.startsWith("upslice:") && JSON.parse(localStorage.getItem(key)).hash),
      null,
      { polling: 50 },
    );
  }
  const [before] = await snapshot(page);
  await page.reload(); // in-flight chunk requests die with the page
  await waitServerIdle(args.url); // the chunk requests cut by the reload are over at the server
  const saved = await page.evaluate(() =>
    Object.keys(localStorage)
      .filter((key) => key.startsWith("upslice:"))
      .map((key) => ({ key, value: JSON.parse(localStorage.getItem(key)) })),
  );
  const countersAtReload = await health(args.url);
  const heldAtReload = await task(args.url, before.taskId);
  release();
  await page.setInputFiles("#files", args.file);
  const rows = await waitAllDone(page);
  const countersAfter = await health(args.url);
  const savedAfter = await page.evaluate(() =>
    Object.keys(localStorage)
      .filter((key) => key.startsWith("upslice:"))
      .map((key) => JSON.parse(localStorage.getItem(key))),
  );
  return { before, saved, countersAtReload, heldAtReload, rows, countersAfter, savedAfter };
});
