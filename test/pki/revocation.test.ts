/** The deny list: by node id or serial, pure, deduplicated. */
import t from 'tap';
import { EMPTY_REVOCATIONS, isRevoked, pruneSerials, revokeNode, revokeSerial } from '../../src/pki/revocation';

t.test('a node id revokes every certificate of that node; a serial revokes one', async (t) => {
  const list = revokeSerial(revokeNode(EMPTY_REVOCATIONS, 'n2'), '00:AB:CD');
  const cases: [{ nodeId: string; serial: string }, boolean][] = [
    [{ nodeId: 'n1', serial: '1234' }, false],
    [{ nodeId: 'n2', serial: '1234' }, true],
    [{ nodeId: 'n1', serial: 'abcd' }, true],
    [{ nodeId: 'n1', serial: '0ABCD' }, true],
  ];
  for (const [who, revoked] of cases) t.equal(isRevoked(list, who), revoked, JSON.stringify(who));
  t.same(EMPTY_REVOCATIONS, { nodeIds: [], serials: [] }, 'the empty list is not changed');
});

t.test('adding twice keeps one entry; pruning drops expired serials only', async (t) => {
  const list = revokeNode(revokeNode(revokeSerial(revokeSerial(EMPTY_REVOCATIONS, 'ff'), 'FF'), 'b'), 'a');
  t.same(list, { nodeIds: ['a', 'b'], serials: ['ff'] });
  t.same(pruneSerials(list, []), { nodeIds: ['a', 'b'], serials: [] });
  t.same(pruneSerials(list, ['0ff']), list);
});
