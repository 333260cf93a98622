// A stock @tus/server with a FileStore, for testing upslice's tus client against a third party.
// usage: node tus-server.mjs <port> <directory>   (serves tus at http://127.0.0.1:<port>/files/)
// With port 0 the kernel picks one; the first line on stdout names it: "tus server on <port>".
import http from "node:http";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const [port, directory] = process.argv.slice(2);
if (!port || !directory) {
  console.error("usage: node tus-server.mjs <port> <directory>");
  process.exit(2);
}
const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
const server = http.createServer((req, res) => tus.handle(req, res));
server.listen(Number(port), "127.0.0.1", () => console.log(`tus server on ${server.address().port}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
