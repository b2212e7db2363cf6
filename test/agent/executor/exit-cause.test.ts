import t from 'tap';
import { CAUSE_MAX_CHARS, exitCause } from '../../../src/agent/executor/exit-cause';
import * as crash from './fixtures/crash-output';

const lines = (s: string) => s.split('\n');

const cases: { name: string; err: string[]; out: string[]; want: string | undefined }[] = [
  { name: 'node: EADDRINUSE, not "Node.js v20"', err: lines(crash.nodeEaddrinuse), out: [], want: 'Error: listen EADDRINUSE: address already in use 127.0.0.1:18999' },
  { name: 'node: an uncaught throw', err: lines(crash.nodeThrow), out: [], want: 'Error: kaboom' },
  { name: 'python: the exception line', err: lines(crash.pythonOsError), out: [], want: 'OSError: [Errno 98] Address already in use' },
  {
    name: 'nginx: the bind line, not its "still could not bind()" summary',
    err: lines(crash.nginxBindRetries),
    out: [],
    want: '2026/12/03 09:22:20 [emerg] 14040#14040: bind() to 127.0.0.1:18997 failed (98: Address already in use)',
  },
  { name: 'nginx before its error log', err: lines(crash.nginxStartup), out: [], want: 'nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)' },
  { name: 'only a summary line: still better than nothing', err: ['nginx: [emerg] still could not bind()'], out: [], want: 'nginx: [emerg] still could not bind()' },
  { name: 'plain stderr: its last non-empty line', err: ['starting', 'boom', '', '  '], out: ['ignored'], want: 'boom' },
  { name: 'stderr empty: the last stdout line', err: ['', ''], out: ['listening', 'config missing', ''], want: 'config missing' },
  { name: 'both empty: no cause', err: [''], out: [], want: undefined },
  { name: 'Go panic', err: ['panic: runtime error: index out of range [3] with length 3', '', 'goroutine 1 [running]:', 'main.main()', '\t/src/main.go:5 +0x1d', 'exit status 2'], out: [], want: 'panic: runtime error: index out of range [3] with length 3' },
  { name: 'Java exception', err: ['Exception in thread "main" java.lang.IllegalStateException: no config', '\tat App.main(App.java:3)'], out: [], want: 'Exception in thread "main" java.lang.IllegalStateException: no config' },
  { name: 'fatal', err: ['FATAL: password authentication failed', 'bye'], out: [], want: 'FATAL: password authentication failed' },
  { name: 'colours and runs of spaces are cleaned', err: ['\x1b[31mError:\x1b[0m   bad   thing'], out: [], want: 'Error: bad thing' },
  { name: 'an error line older than the window is not looked at', err: ['Error: old', ...Array.from({ length: 30 }, (_, i) => `line ${i}`)], out: [], want: 'line 29' },
];

for (const c of cases) t.equal(exitCause(c.err, c.out), c.want, c.name);

t.test('a long cause is cut', async (t) => {
  const cause = exitCause(['Error: ' + 'x'.repeat(500)], [])!;
  t.equal(cause.length, CAUSE_MAX_CHARS);
  t.ok(cause.endsWith('…'));
});
