// Cancel an upload midway: the row says so and the server forgets the task.
// args: {url, file, query?, throttle}
import { demoUrl, scenario, snapshot, throttle, waitProgress, waitUntil } from "./lib.mjs";

scenario(async (page, args, context) => {
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.file);
  await waitProgress(page, 0.2);
  const [row] = await snapshot(page);
  await page.click('button[data-action="cancel"]');
  await page.waitForSelector('tr[data-state="aborted"]');
  // The page does not wait for its DELETE; the test waits until the server has the task no more.
  await waitUntil(async () => (await fetch(new URL(`/api/task/${row.taskId}`, args.url))).status === 404);
  const saved = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("upslice:")));
  return { rows: await snapshot(page), saved };
});
