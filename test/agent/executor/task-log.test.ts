import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { readLog } from '../../../src/agent/executor/task-log';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-task-log-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const long = Array.from({ length: 30_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
const cases: { name: string; content: string; tail?: number; want: string }[] = [
  { name: 'whole log', content: 'a\nb\n', want: 'a\nb\n' },
  { name: 'empty log', content: '', tail: 3, want: '' },
  { name: 'tail fewer lines than present', content: 'a\nb\nc\n', tail: 2, want: 'b\nc\n' },
  { name: 'tail more lines than present', content: 'a\nb\n', tail: 5, want: 'a\nb\n' },
  { name: 'unterminated last line counts', content: 'a\nb\nc', tail: 2, want: 'b\nc' },
  { name: 'tail 0', content: 'a\n', tail: 0, want: '' },
  { name: 'tail across read chunks', content: long, tail: 20_000, want: long.split('\n').slice(10_000).join('\n') },
  { name: 'tail of a single huge line', content: 'x'.repeat(200_000) + '\n', tail: 1, want: 'x'.repeat(200_000) + '\n' },
];

for (const [i, c] of cases.entries()) {
  t.test(c.name, async (t) => {
    const file = path.join(dir, `log-${i}`);
    fs.writeFileSync(file, c.content);
    t.equal(await readLog(file, c.tail), c.want);
  });
}
