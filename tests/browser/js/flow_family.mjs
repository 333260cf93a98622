// resumable.js, flow.js and simple-uploader.js, unchanged from node_modules, in one Chromium,
// uploading to upslice's /flow/. The test page and the libraries are served on the upslice
// origin itself (routed by Playwright from node_modules); every /flow/ request is real.
// args: {url, chaosUrl, slowUrl, chunkSize, retries: {...}, runs: [{lib, scenario, files, md5}]}
import { readFileSync } from "node:fs";
import { health, scenario } from "./lib.mjs";

const LIBRARIES = {
  "resumable.js": "node_modules/resumablejs/resumable.js",
  "flow.js": "node_modules/@flowjs/flow.js/dist/flow.js",
  "uploader.js": "node_modules/simple-uploader.js/dist/uploader.js",
};
const PAGE = `<!doctype html><meta charset="utf-8"><title>flow family</title>
<input type="file" id="file">
${Object.keys(LIBRARIES).map((name) => `<script src="/__flowtest/${name}"></script>`).join("\n")}
<script src="/__flowtest/harness.js"></script>`;

// Runs in the page: one uploader, options as a user would write them.
function harness() {
  const constructors = { resumable: window.Resumable, flow: window.Flow, simple: window.Uploader };
  window.harness = {
    start(lib, options) {
      const opts = { target: "/flow/", ...options };
      if (opts.identifier) {
        const id = opts.identifier;
        delete opts.identifier;
        opts.generateUniqueIdentifier = () => id;
      }
      if (opts.readUploadedList) {
        delete opts.readUploadedList;
        // the README's callback: skip the chunks the server lists (or the whole file)
        opts.checkChunkUploadedByResponse = function (chunk, message) {
          const answer = JSON.parse(message);
          return answer.skipUpload || answer.uploaded.includes(chunk.offset + 1);
        };
      }
      const up = new constructors[lib](opts);
      const state = { success: false, error: null, message: null };
      const messageOf = (args) => (lib === "simple" ? args[2] : args[1]);
      up.on("fileSuccess", (...args) => {
        state.success = true;
        state.message = messageOf(args);
      });
      up.on("fileError", (...args) => {
        state.error = String(messageOf(args));
      });
      if (lib === "resumable") up.on("chunkingComplete", () => up.upload());
      up.addFile(document.getElementById("file").files[0]);
      if (lib !== "resumable") up.upload();
      window.up = up;
      window.lib = lib;
      window.state = state;
    },
    pause() {
      window.up.pause();
    },
    resume() {
      if (window.lib === "resumable") window.up.upload();
      else window.up.resume();
    },
  };
}

/** Counts the page's /flow/ traffic as the network sees it, from now on. */
function watch(page) {
  page.seen = { posts: 0, tests: {}, inFlight: 0, maxInFlight: 0 };
  return page.seen;
}

function listen(page) {
  const isFlow = (request) => new URL(request.url()).pathname.startsWith("/flow");
  page.on("request", (request) => {
    if (!isFlow(request) || request.method() !== "POST") return;
    page.seen.posts += 1;
    page.seen.inFlight += 1;
    page.seen.maxInFlight = Math.max(page.seen.maxInFlight, page.seen.inFlight);
  });
  const done = (request) => {
    if (isFlow(request) && request.method() === "POST") page.seen.inFlight -= 1;
  };
  page.on("requestfinished", done);
  page.on("requestfailed", done);
  page.on("response", (response) => {
    if (!isFlow(response.request()) || response.request().method() !== "GET") return;
    const tests = page.seen.tests;
    tests[response.status()] = (tests[response.status()] || 0) + 1;
  });
}

const problems = [];

const pages = {};

/** The test page on `base`'s origin, fresh (a new document) but in a tab reused per origin. */
async function openPage(context, base) {
  if (pages[base]) {
    await pages[base].reload();
    watch(pages[base]);
    return pages[base];
  }
  const page = (pages[base] = await context.newPage());
  watch(page);
  listen(page);
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (msg) => {
    // a chunk the chaos server cut, or a pause's aborted request, logs a failed load
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  await page.route("**/__flowtest/**", (route) => {
    const name = new URL(route.request().url()).pathname.split("/").pop();
    if (name === "harness.js") {
      return route.fulfill({ contentType: "text/javascript", body: `(${harness})();` });
    }
    if (LIBRARIES[name]) {
      return route.fulfill({ contentType: "text/javascript", body: readFileSync(LIBRARIES[name]) });
    }
    return route.fulfill({ contentType: "text/html", body: PAGE });
  });
  await page.goto(new URL("/__flowtest/", base).href);
  return page;
}

async function start(page, file, lib, options) {
  await page.setInputFiles("#file", file);
  await page.evaluate(([l, o]) => window.harness.start(l, o), [lib, options]);
}

async function finished(page, timeout = 60000) {
  await page.waitForFunction(() => window.state.success || window.state.error, null, {
    timeout,
    polling: 50,
  });
  const state = await page.evaluate(() => window.state);
  if (state.error) throw new Error(`upload failed: ${state.error}`);
  return JSON.parse(state.message);
}

/** Until the server has stored `count` more chunks than `before` said. */
async function storedAtLeast(base, before, count) {
  for (let i = 0; i < 1200; i += 1) {
    const now = await health(base);
    if (now.chunks_received - before.chunks_received >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the server did not store ${count} chunks in time`);
}

/** Until the counters stay put for longer than the slow server's longest delay: a request
 * the page dropped while the server held it has landed or died by then. */
async function quietCounters(base, quietMs = 700) {
  let last = await health(base);
  let since = Date.now();
  for (let i = 0; i < 600; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await health(base);
    if (now.chunks_received !== last.chunks_received) since = Date.now();
    else if (Date.now() - since >= quietMs) return now;
    last = now;
  }
  throw new Error("the server kept receiving chunks");
}

const SCENARIOS = {
  // library defaults but for the chunk size
  async defaults(context, args, run) {
    const page = await openPage(context, args.url);
    const seen = page.seen;
    await start(page, run.files[0], run.lib, { chunkSize: args.chunkSize });
    const message = await finished(page);
    return { message, seen };
  },
  // what people commonly set, all at once
  async options(context, args, run) {
    const page = await openPage(context, args.url);
    const seen = page.seen;
    await start(page, run.files[0], run.lib, {
      chunkSize: args.chunkSize,
      testChunks: false,
      forceChunkSize: true,
      simultaneousUploads: 4,
      query: { project: "apollo", lib: run.lib },
    });
    const message = await finished(page);
    return { message, seen };
  },
  // on the slow server (each chunk request waits up to delay-max before it is read)
  async pause(context, args, run) {
    const before = await health(args.slowUrl);
    const page = await openPage(context, args.slowUrl);
    await start(page, run.files[0], run.lib, { chunkSize: args.chunkSize });
    await storedAtLeast(args.slowUrl, before, 2);
    await page.evaluate(() => window.harness.pause());
    await page.waitForFunction(() => !window.up.isUploading(), null, { polling: 50 });
    const paused = await page.evaluate(() => ({ progress: window.up.progress(), ...window.state }));
    const atPause = await quietCounters(args.slowUrl);
    await page.evaluate(() => window.harness.resume());
    const message = await finished(page);
    return { message, before, paused, atPause };
  },
  // the chaos server cuts connections mid-body; the client retries as configured
  async chaos(context, args, run) {
    const page = await openPage(context, args.chaosUrl);
    const seen = page.seen;
    await start(page, run.files[0], run.lib, { chunkSize: args.chunkSize, ...args.retries });
    const message = await finished(page, 90000);
    return { message, seen };
  },
  // close the page mid-upload, pick the same file again: only the missing chunks travel
  async reload(context, args, run) {
    const options = { chunkSize: args.chunkSize, ...(run.options || {}) };
    const before = await health(args.slowUrl);
    const page = await openPage(context, args.slowUrl);
    const first = page.seen;
    // Three chunks reach the server; the browser holds every later one, which then dies with
    // the document. Left to timing, a loaded machine once let all 8 land before the reload.
    let letThrough = 3;
    const isFlow = (url) => url.pathname.startsWith("/flow");
    const hold = (route) => {
      if (route.request().method() !== "POST") return route.continue(); // testChunks GETs
      if (letThrough > 0) {
        letThrough -= 1;
        return route.continue();
      }
      return undefined; // never continued: pending until the reload ends the document
    };
    await page.route(isFlow, hold);
    await start(page, run.files[0], run.lib, options);
    await storedAtLeast(args.slowUrl, before, 3);
    await page.reload(); // in-flight chunk requests die with the document
    await page.unroute(isFlow, hold);
    const atReload = await quietCounters(args.slowUrl);
    const again = await openPage(context, args.slowUrl);
    const second = again.seen;
    await start(again, run.files[0], run.lib, options);
    const message = await finished(again);
    const after = await health(args.slowUrl);
    return { message, before, first, second, atReload, after };
  },
  // identifier = the file's MD5: verified, and a second upload by the same owner is instant
  async md5(context, args, run) {
    const options = { chunkSize: args.chunkSize, identifier: run.md5, ...(run.options || {}) };
    const results = [];
    for (const file of run.files) {
      const page = await openPage(context, args.url);
      const seen = page.seen;
      await start(page, file, run.lib, options);
      results.push({ message: await finished(page), seen });
    }
    return { results };
  },
};

scenario(async (firstPage, args, context) => {
  await firstPage.close();
  const results = [];
  for (const run of args.runs) {
    const began = Date.now();
    const result = await SCENARIOS[run.scenario](context, args, run);
    results.push({ lib: run.lib, scenario: run.scenario, ms: Date.now() - began, ...result });
  }
  return { results, pageProblems: problems };
});
