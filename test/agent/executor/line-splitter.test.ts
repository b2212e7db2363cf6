import t from 'tap';
import { LineSplitter, type LinePiece } from '../../../src/agent/executor/line-splitter';

const whole = (text: string): LinePiece => ({ text, partial: false });
const part = (text: string): LinePiece => ({ text, partial: true });

const cases: { name: string; max?: number; chunks: (string | Buffer)[]; end?: boolean; want: LinePiece[] }[] = [
  { name: 'whole lines', chunks: ['a\nb\n'], want: [whole('a'), whole('b')] },
  { name: 'a line across chunks', chunks: ['he', 'llo\nwor', 'ld\n'], want: [whole('hello'), whole('world')] },
  { name: 'empty lines are lines', chunks: ['\n\n'], want: [whole(''), whole('')] },
  { name: 'the unterminated end waits', chunks: ['a\nrest'], want: [whole('a')] },
  { name: 'the unterminated end at stream end is a whole line', chunks: ['a\nrest'], end: true, want: [whole('a'), whole('rest')] },
  { name: 'long line split at the limit', max: 4, chunks: ['abcdefghij\n'], want: [part('abcd'), part('efgh'), whole('ij')] },
  { name: 'exactly the limit is one line', max: 4, chunks: ['abcd\n'], want: [whole('abcd')] },
  { name: 'a long unterminated line comes out as it grows', max: 4, chunks: ['abcdef'], want: [part('abcd')] },
  { name: 'a long line across chunks', max: 4, chunks: ['abc', 'def', 'gh\n'], want: [part('abcd'), whole('efgh')] },
  { name: 'a cut never splits a UTF-8 character', max: 4, chunks: ['abcé\n'], want: [part('abc'), whole('é')] },
  { name: 'a character split across chunks', chunks: [Buffer.from('é\n').subarray(0, 1), Buffer.from('é\n').subarray(1)], want: [whole('é')] },
];

for (const c of cases) {
  const s = new LineSplitter(c.max);
  const got: LinePiece[] = [];
  for (const chunk of c.chunks) got.push(...s.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)));
  if (c.end) {
    const last = s.flush(true);
    if (last) got.push(last);
  }
  t.same(got, c.want, c.name);
}

t.test('flush before the end marks a fragment', async (t) => {
  const s = new LineSplitter();
  t.same(s.push(Buffer.from('prompt> ')), []);
  t.ok(s.holding);
  t.same(s.flush(false), part('prompt> '));
  t.notOk(s.holding);
  t.equal(s.flush(true), undefined);
});
