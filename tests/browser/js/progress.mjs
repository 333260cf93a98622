// Progress against the server's truth, then the server dies mid-upload.
// Samples the page's `loaded` and then the server's `uploadedBytes` at steps up to `killAt` of the
// file, pausing and resuming once on the way; then SIGKILLs the server's process group and waits for
// the page to say "retrying (n)…" and for the reported speed to fall.
// args: {url, file, size, pid, query?, throttle, pauseAt, killAt, steps: samples between them}
import { demoUrl, scenario, task, throttle } from "./lib.mjs";

const loadedNow = (page) => page.evaluate(() => window.upsliceDemo.uploads[0].loaded);

async function waitLoaded(page, bytes) {
  await page.waitForFunction((b) => window.upsliceDemo.uploads[0]?.loaded >= b, bytes, { polling: 50 });
}

scenario(async (page, args, context) => {
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  await page.setInputFiles("#files", args.file);
  await page.evaluate(() => {
    window.events = [];
    window.upsliceDemo.uploads[0].addEventListener("progress", ({ detail }) =>
      window.events.push({ at: performance.now(), ...detail }),
    );
  });
  await page.waitForFunction(() => window.upsliceDemo.uploads[0].task, null, { polling: 50 });
  const id = await page.evaluate(() => window.upsliceDemo.uploads[0].task.id);
  const samples = [];
  const sample = async () => {
    const onPage = await loadedNow(page); // first the page, then the server: the server only grows
    samples.push({ page: onPage, server: (await task(args.url, id)).uploadedBytes });
  };
  await waitLoaded(page, args.pauseAt * args.size);
  await sample();
  const [beforePause, afterPause] = await page.evaluate(() => {
    const upload = window.upsliceDemo.uploads[0];
    const before = upload.loaded;
    upload.pause();
    return [before, upload.loaded];
  });
  await sample();
  await page.evaluate(() => window.upsliceDemo.uploads[0].resume());
  for (let step = 1; step <= args.steps; step++) {
    await waitLoaded(page, args.pauseAt * args.size + (step / args.steps) * (args.killAt - args.pauseAt) * args.size);
    await sample();
  }
  const eventsBeforeKill = await page.evaluate(() => window.events.map((e) => e.loaded));
  const speedAtKill = await page.evaluate(() => window.events.at(-1).speed);
  process.kill(-args.pid, "SIGKILL");
  const killedAt = await page.evaluate(() => performance.now());
  const eta = '[data-cell="eta"]';
  await page.waitForFunction(
    ([selector, t]) => {
      const text = document.querySelector(selector).textContent;
      const speeds = window.events.filter((e) => e.at > t).map((e) => e.speed);
      return /^retrying \(\d+\)…$/.test(text) && speeds.at(-1) < Math.max(...speeds) * 0.7;
    },
    [eta, killedAt],
    { polling: 50, timeout: 20000 },
  );
  const afterKill = await page.evaluate((t) => window.events.filter((e) => e.at > t), killedAt);
  return {
    samples,
    beforePause,
    afterPause,
    eventsBeforeKill,
    speedAtKill,
    speedsAfterKill: afterKill.map((e) => e.speed),
    retryingAfterKill: afterKill.map((e) => e.retrying),
    etaText: await page.textContent(eta),
    speedText: await page.textContent('[data-cell="speed"]'),
  };
});
