import { runHttpBench } from './http-through-proxy';

/** TCP new-connection benchmark: wrk with `Connection: close`, one connection per request. */
void runHttpBench('tcp-newconn', true).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
