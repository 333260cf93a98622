// Drop two files on the drop zone (made in the page: byte i of file k is (i * 7 + k) % 251).
// args: {url, query?, sizes: [bytes, ...]}
import { demoUrl, scenario, waitAllDone } from "./lib.mjs";

scenario(async (page, args) => {
  await page.goto(demoUrl(args.url, args.query));
  const dataTransfer = await page.evaluateHandle((sizes) => {
    const transfer = new DataTransfer();
    sizes.forEach((size, k) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7 + k) % 251;
      transfer.items.add(new File([bytes], `dropped-${k}.bin`));
    });
    return transfer;
  }, args.sizes);
  await page.dispatchEvent("#dropzone", "dragover", { dataTransfer });
  const highlighted = await page.$eval("#dropzone", (zone) => zone.classList.contains("over"));
  await page.dispatchEvent("#dropzone", "drop", { dataTransfer });
  const rows = await waitAllDone(page);
  return { highlighted, rows };
});
