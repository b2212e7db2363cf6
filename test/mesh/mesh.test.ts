/**
 * The mesh shell on a fake clock: changes to the cluster view are debounced
 * into one apply, and frontends the dataplane could not serve are retried
 * after a while, not at once. Time only moves when the test says, so "not
 * yet" is asserted after advancing to just before the deadline.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import type { ClusterView } from '../../src/agent/cluster-view';
import { Mesh } from '../../src/mesh/mesh';
import type { ApplyResult, Dataplane, LbTable } from '../../src/mesh/table/table';
import { eventually } from '../support/eventually';
import { FakeClock } from '../support/fake-clock';
import { makeNode } from '../support/builders';

/** The mesh's apply debounce and its retry delay for failed frontends (src/mesh/mesh.ts). */
const APPLY_DEBOUNCE_MS = 5;
const FAILED_RETRY_MS = 1_000;

/** A synced view holding one node, whose change listeners the test calls. */
function fakeView() {
  const listeners: (() => void)[] = [];
  const view = {
    nodes: new Map([['n1', makeNode('n1')]]),
    services: new Map(),
    tasks: new Map(),
    synced: true,
    onChange: (fn: () => void) => listeners.push(fn),
  };
  return { view: view as unknown as ClusterView, change: () => listeners.forEach((fn) => fn()) };
}

/** A dataplane that records the tables applied and answers with `result`. */
function fakeDataplane(result: () => ApplyResult) {
  const applied: LbTable[] = [];
  const dataplane: Dataplane = {
    name: 'userspace',
    apply: async (table) => {
      applied.push(table);
      return result();
    },
    close: async () => undefined,
  };
  return { dataplane, applied };
}

function setup(t: tap.Test, result: () => ApplyResult = () => ({ failed: [] })) {
  const clock = new FakeClock();
  const { view, change } = fakeView();
  const { dataplane, applied } = fakeDataplane(result);
  const mesh = new Mesh({ view, dataplane, logger: pino({ level: 'silent' }), registry: new Registry(), nodeId: () => 'n1', timers: clock });
  t.teardown(() => mesh.stop());
  return { clock, change, applied, mesh };
}

t.test('a burst of changes costs one apply, after the debounce', async (t) => {
  const { clock, change, applied } = setup(t);
  change();
  change();
  change();
  await clock.advanceSettling(APPLY_DEBOUNCE_MS - 1);
  t.equal(applied.length, 0, 'nothing applied before the debounce');
  await clock.advanceSettling(1);
  await eventually(() => applied.length === 1, 'the apply');
  await clock.advanceSettling(APPLY_DEBOUNCE_MS * 10, APPLY_DEBOUNCE_MS);
  t.equal(applied.length, 1, 'one apply for the burst');
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('frontends the dataplane could not serve are retried after a second, not before', async (t) => {
  let failing = true;
  const { clock, change, applied, mesh } = setup(t, () => ({ failed: failing ? [{ frontendId: 'ingress/tcp/8080', error: 'EADDRINUSE' }] : [] }));
  change();
  await clock.advanceSettling(APPLY_DEBOUNCE_MS);
  await eventually(() => applied.length === 1 && mesh.failed.size === 1, 'the first apply, with a failed frontend');
  await clock.advanceSettling(FAILED_RETRY_MS - 1, 100);
  t.equal(applied.length, 1, 'no retry before the delay');
  failing = false;
  await clock.advanceSettling(1 + APPLY_DEBOUNCE_MS, 1);
  await eventually(() => applied.length === 2, 'the retry');
  t.equal(mesh.failed.size, 0, 'served on the retry');
  await clock.advanceSettling(FAILED_RETRY_MS * 3, 100);
  t.equal(applied.length, 2, 'no more retries once everything is served');
});
