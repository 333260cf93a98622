// Uppy Dashboard + @uppy/tus + @uppy/golden-retriever (service worker) on a page from a second
// loopback origin. The upload is slowed down, the page reloaded midway; Golden Retriever brings
// the file back from its service worker and the upload resumes with HEAD, then PATCH from the
// server's offset.
// args: {page, file, throttle}
import { scenario, throttle } from "./lib.mjs";

scenario(async (page, args, context) => {
  // every tus request the page sends, in order, tagged with the phase it was sent in
  const requests = [];
  const entries = new Map();
  let phase = "before";
  page.on("request", (request) => {
    if (!request.url().includes("/files/") || request.method() === "OPTIONS") return;
    const entry = { phase, method: request.method(), url: request.url(), sentOffset: request.headers()["upload-offset"] ?? null };
    entries.set(request, entry);
    requests.push(entry);
  });
  page.on("response", (response) => {
    const entry = entries.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    entry.offset = response.headers()["upload-offset"] ?? null;
    entry.allowOrigin = response.headers()["access-control-allow-origin"] ?? null;
  });
  await page.goto(args.page);
  await page.waitForFunction(() => window.uppyReady === true);
  await throttle(page, context, args.throttle);
  await page.setInputFiles(".uppy-Dashboard-input >> nth=0", args.file);
  // midway: the first 256 KiB PATCH acknowledged, the second under way, the upload running
  await page.waitForFunction(
    () => {
      const [file] = window.uppy.getFiles();
      return file && file.progress.bytesUploaded >= 512 * 1024 && !file.progress.uploadComplete;
    },
    null,
    { timeout: 60000, polling: 50 },
  );
  const uploadedBeforeReload = await page.evaluate(() => window.uppy.getFiles()[0].progress.bytesUploaded);
  // a request belongs to the page that sent it: the old page may still send one while the
  // reload is under way, so "after" starts when the new document commits, not when asked
  let reloading = true;
  page.on("framenavigated", (frame) => {
    if (reloading && frame === page.mainFrame()) {
      phase = "after";
      reloading = false;
    }
  });
  await page.reload();
  await page.waitForFunction(() => window.uppyReady === true);
  await throttle(page, context, args.throttle * 8);
  // Golden Retriever restores the file (its bytes from the service worker) for the user to resume
  await page.waitForFunction(() => window.uppy.getFiles().length === 1 && !window.uppy.getFiles()[0].isGhost, null, { timeout: 30000 });
  const restored = await page.evaluate(() => ({
    controlled: navigator.serviceWorker.controller !== null,
    file: { name: window.uppy.getFiles()[0].name, isRestored: window.uppy.getFiles()[0].isRestored },
  }));
  // the user presses the Dashboard's upload button, as after any recovery
  const resume = page.locator(".uppy-StatusBar-actionBtn--upload");
  await resume.waitFor({ timeout: 10000 });
  await resume.click();
  await page.waitForFunction(() => window.completed.length === 1, null, { timeout: 90000, polling: 100 });
  const uploadURL = await page.evaluate(() => window.completed[0]);
  return {
    origin: new URL(args.page).origin,
    uploadedBeforeReload,
    restored,
    uploadURL,
    beforeReload: requests.filter((r) => r.phase === "before"),
    afterReload: requests.filter((r) => r.phase === "after"),
  };
});
