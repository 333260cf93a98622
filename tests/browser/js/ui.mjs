// The demo's states, one by one, checked the way a keyboard and screen-reader user, and a phone,
// meet them: axe-core (WCAG 2.2 AA rules) on each state, focus after a button hides itself, one
// "Paused", no stale message after Resume, columns that keep their widths, a 390 px card layout,
// unfinished uploads listed after a reload, and a finished file confirmed instead of hashed again.
// args: {url, query, throttle, files: {main, huge, later}, screenshot}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { demoUrl, health, onEveryNewUpload, scenario, snapshot, throttle } from "./lib.mjs";

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

async function axe(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ content: AXE });
  const found = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags } }), TAGS);
  return found.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
}

const row = (page, name) => page.locator(`tr[data-name="${name}"]`);
const stateOf = (page, name) => row(page, name).getAttribute("data-state");

async function waitState(page, name, state) {
  await page.waitForSelector(`tr[data-name="${name}"][data-state="${state}"]`, { timeout: 60000 });
}

function columnWidths(page) {
  return page.$$eval("#uploads thead th", (cells) => cells.map((c) => Math.round(c.getBoundingClientRect().width)));
}

/** Whatever sticks out to the right of a 390 px screen, and the page's own scroll width. */
function overflow(page) {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const controls = [...document.querySelectorAll("button, a, progress, input, select, summary, label, [data-cell]")];
    const outside = controls
      .filter((el) => el.getClientRects().length && el.getBoundingClientRect().width > 0)
      .filter((el) => getComputedStyle(el).position !== "absolute") // the visually hidden input
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.left < 0 || box.right > width + 0.5;
      })
      .map((el) => el.outerHTML.slice(0, 80));
    return { width, scrollWidth: document.scrollingElement.scrollWidth, outside };
  });
}

scenario(async (page, args, context) => {
  const [main, huge, later] = [args.files.main, args.files.huge, args.files.later].map((p) => p.split("/").at(-1));
  const audits = {};
  const widths = {};
  await page.goto(demoUrl(args.url, args.query));
  await throttle(page, context, args.throttle);
  audits.idle = await axe(page);

  // Hashing, held: the worker script waits until the checks are done.
  let release;
  const released = new Promise((resolve) => (release = resolve));
  await page.route("**/static/hash-worker.js", async (route) => {
    await released;
    await route.continue();
  });
  await page.setInputFiles("#files", args.files.main);
  await waitState(page, main, "hashing");
  audits.hashing = await axe(page);
  widths.hashing = await columnWidths(page);
  const pause = row(page, main).locator('[data-action="pause"]');
  await pause.focus();
  await page.keyboard.press("Enter");
  await waitState(page, main, "paused");
  const pausedText = await row(page, main).innerText();
  const focusAfterPause = await page.evaluate(() => document.activeElement.getAttribute("aria-label"));
  await page.keyboard.press("Enter"); // on Resume, if focus went there
  await waitState(page, main, "hashing");
  const focusAfterResume = await page.evaluate(() => document.activeElement.getAttribute("aria-label"));
  const messageAfterResume = await row(page, main).locator('[data-cell="message"]').innerText();
  release(); // the route lets every later request of the worker through at once

  await waitState(page, main, "uploading");
  await page.waitForFunction(() => window.upsliceDemo.uploads[0].loaded > 0);
  audits.uploading = await axe(page);
  widths.uploading = await columnWidths(page);
  await page.setInputFiles("#files", args.files.huge); // refused: too large
  await waitState(page, huge, "error");
  audits.failed = await axe(page);
  await row(page, main).locator('[data-action="pause"]').click();
  await waitState(page, main, "paused");
  audits.paused = await axe(page);
  widths.paused = await columnWidths(page);
  const announced = await page.textContent("#announcer");

  // The phone: cards, nothing off-screen, with a paused and a failed upload on the page.
  await page.setViewportSize({ width: 390, height: 844 });
  const phone = await overflow(page);
  audits.phone = await axe(page);
  await page.screenshot({ path: args.screenshot, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 720 });

  await row(page, main).locator('[data-action="resume"]').click();
  await waitState(page, main, "done");
  audits.done = await axe(page);
  widths.done = await columnWidths(page);

  // Reload with one upload unfinished: the page lists it, and remembers the finished one.
  await page.setInputFiles("#files", args.files.later);
  await page.waitForFunction(() => window.upsliceDemo.uploads.at(-1).loaded > 0);
  await page.reload();
  await page.waitForSelector(`tr[data-name="${later}"][data-state="unfinished"]`);
  const unfinishedText = await row(page, later).innerText();
  const hashed = [];
  await page.exposeFunction("hashedSome", (name) => hashed.push(name));
  const countersBefore = await health(args.url);
  await onEveryNewUpload(page, (u) => u.addEventListener("hashprogress", () => window.hashedSome(u.file.name)));
  await page.setInputFiles("#files", args.files.main);
  await waitState(page, main, "done");
  const [again] = await snapshot(page);
  const sentAgain = (await health(args.url)).bytes_received - countersBefore.bytes_received;
  return {
    audits,
    widths,
    pausedText,
    focusAfterPause,
    focusAfterResume,
    messageAfterResume,
    announced,
    phone,
    unfinishedText,
    again,
    hashed,
    sentAgain,
    finalState: await stateOf(page, main),
  };
});
