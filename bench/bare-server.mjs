// The floor of serve's memory: an HTTP server doing nothing, printing its resident memory in
// MiB after two seconds.  Plain JavaScript, so it runs under plain node (the compiled copy's
// runtime) and under node with tsx's loader (the sources') alike.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

createServer((_, res) => res.end()).listen(0, '127.0.0.1', () => {
  setTimeout(() => {
    console.log(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024);
    process.exit(0);
  }, 2000);
});
