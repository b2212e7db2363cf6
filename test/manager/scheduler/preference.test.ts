import t from 'tap';
import { InvalidArgumentError } from '../../../src/errors';
import { parsePlacementPreference, spreadLabel, spreadLabels, spreadValue } from '../../../src/manager/scheduler/preference';
import { makeNode } from '../../support/builders';

t.test('parses --placement-pref spread=node.labels.X', async (t) => {
  const cases: [string, { spread: string }][] = [
    ['spread=node.labels.zone', { spread: 'node.labels.zone' }],
    ['SPREAD = node.labels.Rack', { spread: 'node.labels.Rack' }],
    ['spread=Node.Labels.com.example.dc', { spread: 'Node.Labels.com.example.dc' }],
  ];
  for (const [text, want] of cases) t.same(parsePlacementPreference(text), want, text);
});

t.test('rejects what cannot be spread over', async (t) => {
  const cases: [string, RegExp][] = [
    ['node.labels.zone', /expected spread=node\.labels\.<name>/],
    ['binpack=node.labels.zone', /expected spread=/],
    ['spread=node.hostname', /only node\.labels\.<name> can be spread over/],
    ['spread=node.labels.', /only node\.labels\.<name>/],
    ['spread=', /only node\.labels\.<name>/],
  ];
  for (const [text, msg] of cases) {
    t.throws(() => parsePlacementPreference(text), InvalidArgumentError, text);
    t.throws(() => parsePlacementPreference(text), { message: msg }, text);
  }
});

t.test('labels to spread over, outermost first; stored nonsense is skipped', async (t) => {
  t.same(spreadLabel('node.labels.zone'), 'zone');
  t.same(spreadLabels(undefined), []);
  t.same(spreadLabels({ constraints: [] }), []);
  t.same(
    spreadLabels({ constraints: [], preferences: [{ spread: 'node.labels.zone' }, { spread: 'node.id' }, { spread: 'NODE.LABELS.rack' }] }),
    ['zone', 'rack'],
  );
});

t.test('nodes without the label share the empty value', async (t) => {
  t.equal(spreadValue(makeNode('a', { labels: { zone: 'east' } }), 'zone'), 'east');
  t.equal(spreadValue(makeNode('b'), 'zone'), '');
  t.equal(spreadValue(makeNode('c', { labels: { Zone: 'east' } }), 'zone'), '', 'label names are exact');
});
