/**
 * A node's client of several managers: a manager that cannot be reached is
 * skipped for the next one, which stays current; the managers' own list
 * replaces what the node knew. Real HTTP on 127.0.0.1.
 */
import http from 'node:http';
import t from 'tap';
import { ManagerClient } from '../../src/api/manager-client';
import { managerAddrs } from '../../src/manager/dispatcher/dispatcher';
import { makeNode } from '../support/builders';
import { freePort } from '../support/free-port';
import { listenEphemeral } from '../support/tcp';

async function manager(t: { teardown(fn: () => unknown): void }, name: string): Promise<{ addr: string; calls: () => number }> {
  let calls = 0;
  const server = http.createServer((_req, res) => {
    calls++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name }));
  });
  const port = await listenEphemeral(server, '127.0.0.1');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { addr: `127.0.0.1:${port}`, calls: () => calls };
}

t.test('a manager that cannot be reached is skipped, and the one that answered stays current', async (t) => {
  const dead = `127.0.0.1:${await freePort('tcp')}`;
  const b = await manager(t, 'b');
  const c = await manager(t, 'c');
  const client = new ManagerClient(dead, { timeoutMs: 2_000 });
  t.teardown(() => client.close());
  await t.rejects(client.call('GET', '/v1/x'), { code: 'SHOAL_ERR_UNAVAILABLE' }, 'alone, the dead manager fails the call');
  client.setManagers([b.addr, c.addr]);
  t.same(client.managers(), [dead, b.addr, c.addr], 'the current one first, then the ones it heard of');
  t.same(await client.call('GET', '/v1/x'), { name: 'b' }, 'the call goes on to the next manager');
  t.same(await client.call('GET', '/v1/x'), { name: 'b' }, 'which is current from then on');
  t.equal(client.managers()[0], b.addr);
  client.setManagers([c.addr]);
  t.same(client.managers(), [b.addr, c.addr], 'a manager no longer named is dropped, unless it is the current one');
  t.equal(c.calls(), 0);
});

t.test('managerAddrs: the API of every manager that is not down', async (t) => {
  const up = makeNode('m1', { role: 'manager', address: '127.0.0.1' });
  const nodes = [
    { ...up, ports: { ...up.ports, api: 2377 } },
    { ...makeNode('m2', { role: 'manager', address: '127.0.0.2', status: { state: 'down', since: '', message: '' } }), ports: { dns: 53, metrics: 9323, api: 2377 } },
    makeNode('w1', { address: '127.0.0.3' }),
    makeNode('m3', { role: 'manager', address: '127.0.0.4' }),
  ];
  t.same(managerAddrs(nodes), ['127.0.0.1:2377'], 'down managers, workers and managers from before api ports are left out');
});
