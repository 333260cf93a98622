// Shared by the browser scenarios: a real Chromium (Debian's), a fresh profile, JSON in and out.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.UPSLICE_CHROMIUM || "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Run `body(page, context)` in a fresh persistent profile; print its result as one JSON line. */
export async function scenario(body) {
  const args = JSON.parse(process.argv[2] || "{}");
  const profile = mkdtempSync(join(tmpdir(), "upslice-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 720 },
  });
  const problems = [];
  let exitCode = 0;
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    const result = await body(page, args, context);
    console.log(JSON.stringify({ ok: true, problems, ...result }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, problems, error: String(error && error.stack) }));
    exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(exitCode);
}

/** Slow the page's uploads down (bytes per second) through the DevTools protocol. */
export async function throttle(page, context, bytesPerSecond) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond,
  });
  return cdp;
}

export function demoUrl(base, query = {}) {
  const url = new URL("/", base);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
  return url.href;
}

/** What the demo page's uploads look like now, row by row. */
export function snapshot(page) {
  return page.evaluate(() =>
    window.upsliceDemo.uploads.map((u) => {
      const row = document.querySelector(`tr[data-name="${CSS.escape(u.file.name)}"]`);
      const text = (name) => row?.querySelector(`[data-cell="${name}"]`)?.textContent ?? null;
      return {
        name: u.file.name,
        size: u.file.size,
        state: u.state,
        loaded: u.loaded,
        taskId: u.task?.id ?? null,
        fileUrl: u.task?.fileUrl ?? null,
        instant: u.instant,
        resumed: u.resumed,
        hashSkipped: u.hashSkipped,
        retries: u.retryCount,
        error: u.error ? { code: u.error.code, message: u.error.message } : null,
        href: row?.querySelector('[data-cell="download"]')?.href ?? null,
        rowState: row?.dataset.state ?? null,
        message: text("message"),
        hashText: text("hash-text"),
        uploadText: text("upload-text"),
        speedText: text("speed"),
        etaText: text("eta"),
      };
    }),
  );
}

/** Wait until every upload on the page is done; fail at once on an error state. */
/**
 * Runs `attach(upload)` in the page for every upload the demo makes from now on, before that
 * upload starts: a listener added once a file is chosen can miss its first events (seen once
 * under load, a retry before the listener). `attach` is page code: it must not use Node values.
 */
export async function onEveryNewUpload(page, attach) {
  await page.evaluate(`(() => {
    const attach = ${attach.toString()};
    const uploads = window.upsliceDemo.uploads;
    const push = uploads.push.bind(uploads);
    uploads.push = (...added) => { added.forEach(attach); return push(...added); };
  })()`);
}

export async function waitAllDone(page, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await snapshot(page);
    const failed = rows.find((r) => r.state === "error" || r.state === "aborted");
    if (failed) throw new Error(`upload ${failed.name} ended ${failed.state}: ${JSON.stringify(failed)}`);
    if (rows.length && rows.every((r) => r.state === "done")) return rows;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(rows)}`);
    await page.waitForTimeout(100);
  }
}

/** Wait until the page's uploads together have `fraction` of their bytes sent, still uploading. */
export async function waitProgress(page, fraction, timeoutMs = 60000) {
  await page.waitForFunction(
    (f) => {
      const all = window.upsliceDemo?.uploads ?? [];
      const total = all.reduce((sum, u) => sum + u.file.size, 0);
      const loaded = all.reduce((sum, u) => sum + u.loaded, 0);
      return all.some((u) => u.state === "uploading") && loaded >= f * total;
    },
    fraction,
    { timeout: timeoutMs, polling: 50 },
  );
}

export async function health(base) {
  const response = await fetch(new URL("/health", base));
  return (await response.json()).counters;
}

/** Poll `condition` (async, true when met) until it holds; throw after `timeoutMs`. */
export async function waitUntil(condition, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 20)); // poll interval, bounded above
  }
}

/** Wait until the server handles no request but the /health that asks (a cut or aborted
 * request runs on at the server until it has kept or dropped its bytes). */
export function waitServerIdle(base) {
  return waitUntil(async () => (await health(base)).requests_in_flight <= 1);
}

export async function task(base, id) {
  const response = await fetch(new URL(`/api/task/${id}`, base));
  return response.json();
}
