// Two tabs of one browser profile choose the same file at once: one sends it, the other follows.
// args: {url, file, query?, throttle, holdHashing?: true (with hashFirst: both tabs hash at once)}
import { demoUrl, scenario, snapshot, throttle, waitAllDone } from "./lib.mjs";

scenario(async (first, args, context) => {
  const second = await context.newPage();
  const tabs = [first, second];
  for (const page of tabs) {
    await page.goto(demoUrl(args.url, args.query));
    await throttle(page, context, args.throttle);
  }
  if (args.holdHashing) {
    // Both tabs hash at once: each one's worker script waits until both are hashing.
    let release;
    const released = new Promise((resolve) => (release = resolve));
    for (const page of tabs) {
      await page.route("**/static/hash-worker.js", async (route) => {
        await released;
        await route.continue();
      });
    }
    await Promise.all(tabs.map((page) => page.setInputFiles("#files", args.file)));
    for (const page of tabs) await page.waitForSelector('tr[data-state="hashing"]');
    release();
  } else {
    await Promise.all(tabs.map((page) => page.setInputFiles("#files", args.file)));
  }
  for (const page of tabs) {
    await page.evaluate(() => {
      const upload = window.upsliceDemo.uploads[0];
      window.followed = upload.following;
      upload.addEventListener("progress", ({ detail }) => (window.followed ||= detail.following));
    });
  }
  const rows = [];
  for (const page of tabs) rows.push((await waitAllDone(page))[0]);
  const followed = await Promise.all(tabs.map((page) => page.evaluate(() => window.followed)));
  const messages = await Promise.all(tabs.map((page) => snapshot(page).then(([row]) => row.message)));
  return { rows, followed, messages };
});
