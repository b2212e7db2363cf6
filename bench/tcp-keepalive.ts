import { runHttpBench } from './http-through-proxy';

/** TCP keep-alive benchmark: wrk with 64 persistent connections through HAProxy and through shoal. */
void runHttpBench('tcp-keepalive', false).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
