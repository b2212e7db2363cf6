import t from 'tap';
import { taskOutcome } from '../../../src/agent/executor/task-exit';

const cases: { code: number | null; signal: NodeJS.Signals | null; stop: boolean; want: ReturnType<typeof taskOutcome> }[] = [
  { code: 0, signal: null, stop: false, want: { state: 'complete', message: 'finished', exitCode: 0 } },
  { code: 3, signal: null, stop: false, want: { state: 'failed', message: 'task: non-zero exit (3)', exitCode: 3 } },
  { code: null, signal: 'SIGSEGV', stop: false, want: { state: 'failed', message: 'killed by signal SIGSEGV', exitCode: 139 } },
  { code: null, signal: 'SIGKILL', stop: true, want: { state: 'shutdown', message: 'shutdown', exitCode: 137 } },
  { code: 0, signal: null, stop: true, want: { state: 'shutdown', message: 'shutdown', exitCode: 0 } },
  { code: 143, signal: null, stop: true, want: { state: 'shutdown', message: 'shutdown', exitCode: 143 } },
];

for (const c of cases) {
  t.same(taskOutcome(c.code, c.signal, c.stop), c.want, `code=${c.code} signal=${c.signal} stop=${c.stop}`);
}

const withCause: { code: number | null; signal: NodeJS.Signals | null; stop: boolean; message: string }[] = [
  { code: 1, signal: null, stop: false, message: 'task: non-zero exit (1): Error: kaboom' },
  { code: null, signal: 'SIGSEGV', stop: false, message: 'killed by signal SIGSEGV: Error: kaboom' },
  { code: 0, signal: null, stop: false, message: 'finished' },
  { code: 1, signal: null, stop: true, message: 'shutdown' },
];
for (const c of withCause) t.equal(taskOutcome(c.code, c.signal, c.stop, 'Error: kaboom').message, c.message, `cause: ${c.message}`);
