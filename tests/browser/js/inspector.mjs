// The live inspector, watched while an upload goes on beside it: a chunk arrives, chaos
// (switched on in the page) fails one, the retry lands, another is in flight. Screenshot.
// args: {url, screenshot}
import http from "node:http";
import { scenario } from "./lib.mjs";

const CHUNK = 1024;

/** PUT one chunk with node:http; `hold` keeps the body half sent until it resolves. */
function putChunk(base, id, index, hold) {
  return new Promise((resolve, reject) => {
    const body = Buffer.alloc(CHUNK, index);
    const request = http.request(new URL(`/api/task/${id}/chunk/${index}`, base), {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream", "Content-Length": CHUNK },
    });
    request.on("response", (response) => {
      let text = "";
      response.on("data", (piece) => (text += piece));
      response.on("end", () => resolve({ status: response.statusCode, body: text }));
    });
    request.on("error", reject);
    request.write(body.subarray(0, CHUNK / 2));
    Promise.resolve(hold).then(() => request.end(body.subarray(CHUNK / 2)));
  });
}

async function chunkStates(page, id) {
  return page.evaluate((uploadId) => {
    const row = document.querySelector(`tr[data-upload="${uploadId}"]`);
    return row ? [...row.querySelectorAll(".chunk")].map((c) => c.dataset.state) : null;
  }, id);
}

async function waitStates(page, id, wanted) {
  await page.waitForFunction(
    ([uploadId, states]) => {
      const row = document.querySelector(`tr[data-upload="${uploadId}"]`);
      const got = row ? [...row.querySelectorAll(".chunk")].map((c) => c.dataset.state) : [];
      return JSON.stringify(got) === JSON.stringify(states);
    },
    [id, wanted],
    { timeout: 20000, polling: 50 },
  );
}

async function setChaos(page, fail) {
  await page.fill('#chaos input[name="fail"]', String(fail));
  await page.click('#chaos button[type="submit"]');
  await page.waitForFunction((f) => window.inspectorState?.chaos.fail === f, fail, { timeout: 10000 });
}

scenario(async (page, args) => {
  await page.goto(new URL("/inspect", args.url).href);
  await page.waitForSelector("#live.on", { timeout: 20000 });
  const data = Buffer.concat([0, 1, 2, 3].map((i) => Buffer.alloc(CHUNK, i)));
  const { createHash } = await import("node:crypto");
  const created = await fetch(new URL("/api/task", args.url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ hash: createHash("md5").update(data).digest("hex"), fileName: "watched.bin", fileSize: data.length, chunkSize: CHUNK }),
  });
  const task = await created.json();
  await waitStates(page, task.id, ["missing", "missing", "missing", "missing"]);

  await setChaos(page, 1);
  const failed = await putChunk(args.url, task.id, 0);
  await page.waitForSelector("#requests tr.error", { timeout: 20000 });
  await setChaos(page, 0);
  const retried = await putChunk(args.url, task.id, 0);
  const second = await putChunk(args.url, task.id, 1);
  await waitStates(page, task.id, ["resent", "received", "missing", "missing"]);

  let release;
  const held = new Promise((resolve) => (release = resolve));
  const inFlight = putChunk(args.url, task.id, 2, held);
  await waitStates(page, task.id, ["resent", "received", "inflight", "missing"]);
  await page.screenshot({ path: args.screenshot, fullPage: true });
  const errorRows = await page.$$eval("#requests tr.error", (rows) =>
    rows.map((r) => [...r.children].map((td) => td.textContent)),
  );
  release();
  const third = await inFlight;
  await waitStates(page, task.id, ["resent", "received", "received", "missing"]);
  return { taskId: task.id, failed, retried, second, third, errorRows, finalStates: await chunkStates(page, task.id) };
});
