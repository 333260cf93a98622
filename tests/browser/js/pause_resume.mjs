// Pause an upload midway, check that nothing more arrives at the server, resume, finish.
// args: {url, file, query?, throttle, pauseAt?: 0..1}
import { demoUrl, health, scenario, snapshot, task, throttle, waitAllDone, waitProgress, waitServerIdle } from "./lib.mjs";

scenario(async (page, args, context) => {
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.file);
  await waitProgress(page, args.pauseAt ?? 0.3);
  await page.click('button[data-action="pause"]');
  await page.waitForSelector('tr[data-state="paused"]');
  const [paused] = await snapshot(page);
  await waitServerIdle(args.url); // requests aborted by the pause are over at the server
  const countersAtPause = await health(args.url);
  const heldAtPause = (await task(args.url, paused.taskId)).uploadedBytes;
  await page.waitForTimeout(1000); // not a synchronisation: the window in which nothing may arrive
  const countersLater = await health(args.url);
  const heldLater = (await task(args.url, paused.taskId)).uploadedBytes;
  await page.click('button[data-action="resume"]');
  const rows = await waitAllDone(page);
  return { paused, countersAtPause, countersLater, heldAtPause, heldLater, rows };
});
