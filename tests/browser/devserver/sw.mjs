// @uppy/golden-retriever's service worker, served from the page's own origin and folder.
import "/node_modules/@uppy/golden-retriever/lib/ServiceWorker.js";
