// A webhook receiver for the benchmarks: answers every POST with 200 and counts arrivals.
// GET / returns {"count", "first", "last"} (arrival times in ms since the receiver started).
// usage: node bench/receiver.mjs <port>
import http from "node:http";

const port = Number(process.argv[2]);
let count = 0, first = 0, last = 0;
http
  .createServer((req, res) => {
    if (req.method !== "POST") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ count, first, last }));
      return;
    }
    req.resume();
    req.on("end", () => {
      const now = performance.now();
      count += 1;
      if (!first) first = now;
      last = now;
      res.end("ok");
    });
  })
  .listen(port, "127.0.0.1");
