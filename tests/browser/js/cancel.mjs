// Cancel an upload midway: the row says so and the server forgets the task.
// args: {url, file, query?, throttle}
import { demoUrl, scenario, snapshot, throttle, waitProgress } from "./lib.mjs";

scenario(async (page, args, context) => {
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.file);
  await waitProgress(page, 0.2);
  await page.click('button[data-action="cancel"]');
  await page.waitForSelector('tr[data-state="aborted"]');
  await page.waitForTimeout(500); // the DELETE is fire-and-forget
  const saved = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("upslice:")));
  return { rows: await snapshot(page), saved };
});
