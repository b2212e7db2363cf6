import t from 'tap';
import type { LogLine } from '../../../src/api/contract';
import { DEFAULT_LOG_TAIL, formatLogLine, parseTail } from '../../../src/cli/commands/service-logs';

const line: LogLine = { type: 'log', taskId: 'abcdefghijklmnopqrstuvwxy', serviceName: 'web', slot: 1, nodeId: 'n1', t: '2024-05-06T07:08:09.123456789Z', s: 'out', l: 'hello' };
const hostnames = new Map([['n1', 'alpha']]);

t.test('lines as Docker prints them', async (t) => {
  t.equal(formatLogLine(line, { timestamps: false, taskIds: true, hostnames }), 'web.1.abcdefghijkl@alpha    | hello\n');
  t.equal(formatLogLine(line, { timestamps: true, taskIds: true, hostnames }), '2024-05-06T07:08:09.123456789Z web.1.abcdefghijkl@alpha    | hello\n');
  t.equal(formatLogLine(line, { timestamps: false, taskIds: false, hostnames }), 'web.1@alpha    | hello\n');
  t.equal(formatLogLine({ ...line, slot: 0, nodeId: 'n9' }, { timestamps: false, taskIds: false, hostnames }), 'web.n9@n9    | hello\n', 'global task on an unknown node');
  const err: LogLine = { type: 'error', taskId: line.taskId, serviceName: 'web', slot: 2, nodeId: 'n1', message: 'node alpha unreachable: connect ECONNREFUSED' };
  t.equal(formatLogLine(err, { timestamps: true, taskIds: true, hostnames }), 'web.2.abcdefghijkl@alpha    | error: node alpha unreachable: connect ECONNREFUSED\n');
});

t.test('--tail', async (t) => {
  t.equal(parseTail(undefined), DEFAULT_LOG_TAIL);
  t.equal(parseTail('all'), 'all');
  t.equal(parseTail('0'), 0);
  t.equal(parseTail('25'), 25);
  for (const bad of ['-1', 'x', '1.5', '']) t.throws(() => parseTail(bad), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: /^invalid tail/ }, JSON.stringify(bad));
});
