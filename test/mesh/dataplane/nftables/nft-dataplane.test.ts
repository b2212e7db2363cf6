import * as path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { NftablesDataplane } from '../../../../src/mesh/dataplane/nftables/nft-dataplane';
import { NftCommandError, systemNft, type NftRunner } from '../../../../src/mesh/dataplane/nftables/nft-runner';
import { probeNftables } from '../../../../src/mesh/dataplane/nftables/nft-probe';
import { renderRuleset } from '../../../../src/mesh/dataplane/nftables/nft-ruleset';
import type { Frontend } from '../../../../src/mesh/table/table';
import { systemIp } from '../../../../src/net/ip-command';
import { Lab } from '../../../../src/net/lab';
import { buildTopology, execIn, randomPrefix, scratchNetns } from './netns-topology';

/** A table of someone else's in the node namespace; shoal must never change it. */
const FOREIGN_TABLE = `table inet shoaltest_foreign {
	set blocked {
		type ipv4_addr
		elements = { 192.0.2.99 }
	}
	chain input {
		type filter hook input priority 10; policy accept;
		ip saddr @blocked counter drop
	}
}
`;

/** An nft that records scripts and fails the calls the test says; `list` answers from `listing`. */
interface FakeNft {
  scripts: string[];
  failNext: string[];
  listing: string;
  tables: string;
  runner: NftRunner;
}

function fakeNft(): FakeNft {
  const fake: FakeNft = {
    scripts: [] as string[],
    failNext: [] as string[],
    listing: '{"nftables": []}',
    tables: '',
    runner: {
      run: async (args, input) => {
        if (args[0] === 'list') return args[1] === 'tables' ? fake.tables : fake.listing;
        if (args[0] === '-j') return fake.listing;
        fake.scripts.push(input ?? '');
        const error = fake.failNext.shift();
        if (error) throw new NftCommandError(`nft -f -: ${error}`, error);
        return '';
      },
    } as NftRunner,
  };
  return fake;
}

function vip(port: number, backends: string[], extra: Partial<Frontend> = {}): Frontend {
  return {
    id: `vip/tcp/10.0.0.200:${port}`,
    kind: 'vip',
    protocol: 'tcp',
    address: '10.0.0.200',
    port,
    service: 'web',
    backends: backends.map((a) => ({ id: a, address: a, port: 8080, weight: 1 })),
    ...extra,
  };
}

function fakeDataplane(t: tap.Test, nft: NftRunner): NftablesDataplane {
  const dp = new NftablesDataplane({ logger: pino({ level: 'silent' }), registry: new Registry(), nft }, { resyncIntervalMs: 0 });
  t.teardown(() => dp.close());
  return dp;
}

t.test('with a fake nft: transactions, fallbacks and close', async (t) => {
  const nft = fakeNft();
  const dp = fakeDataplane(t, nft.runner);
  const table = { frontends: [vip(80, ['10.0.0.2'])] };
  t.same(await dp.apply(table), { failed: [] });
  t.equal(nft.scripts.length, 1);
  t.equal(nft.scripts[0], renderRuleset(table.frontends).script, 'the first apply rebuilds the table');

  await dp.apply(table);
  t.equal(nft.scripts.length, 1, 'an unchanged table runs no transaction');

  const scaled = { frontends: [vip(80, ['10.0.0.2', '10.0.0.3'])] };
  await dp.apply(scaled);
  t.match(nft.scripts[1], /^flush chain ip shoal fe_tcp_10_0_0_200_80\n/, 'a change is a delta');

  nft.failNext.push('Error: No such file or directory');
  const two = { frontends: [vip(80, ['10.0.0.2']), vip(81, ['10.0.0.2'])] };
  t.same(await dp.apply(two), { failed: [] }, 'a delta the kernel refuses falls back to a rebuild');
  t.match(nft.scripts[2], /add chain ip shoal fe_tcp_10_0_0_200_81\n/, 'the refused delta');
  t.equal(nft.scripts[3], renderRuleset(two.frontends).script);

  nft.failNext.push('Error: boom', 'Error: boom');
  const refused = await dp.apply({ frontends: [vip(80, ['10.0.0.3']), vip(82, ['10.0.0.2'], { proxyProtocol: 'v1' })] });
  t.same(
    refused.failed.map((f) => f.frontendId).sort(),
    ['vip/tcp/10.0.0.200:80', 'vip/tcp/10.0.0.200:82'],
    'when even the rebuild fails every frontend is reported',
  );
  t.match(refused.failed.find((f) => f.frontendId.endsWith(':82'))?.error, /PROXY protocol/, 'with its own reason when it has one');
  t.match(refused.failed.find((f) => f.frontendId.endsWith(':80'))?.error, /nft refused the table: .*boom/);
  await dp.apply(two);
  t.equal(nft.scripts.at(-1), renderRuleset(two.frontends).script, 'after a failure the next apply rebuilds');

  await dp.close();
  await dp.close();
  t.equal(nft.scripts.at(-1), 'table ip shoal {}\ndelete table ip shoal\n', 'close deletes the table');
  t.equal(nft.scripts.filter((s) => s.includes('delete table ip shoal\n') && !s.includes('table ip shoal {\n')).length, 1, 'once');
  t.same((await dp.apply(two)).failed.map((f) => f.error), ['dataplane is closed', 'dataplane is closed']);
});

t.test('with a fake nft: resync rebuilds only when the kernel drifted', async (t) => {
  const nft = fakeNft();
  const dp = fakeDataplane(t, nft.runner);
  t.equal(await dp.resync(), false, 'nothing applied yet, nothing to compare');
  await dp.apply({ frontends: [vip(80, ['10.0.0.2'])] });
  t.equal(await dp.resync(), true, 'no table in the kernel: rebuilt');
  t.equal(nft.scripts.length, 2);
  t.equal(nft.scripts[1], nft.scripts[0], 'with the last table applied');
});

t.test('nftables dataplane in network namespaces', async (t) => {
  const lab = await Lab.probe();
  if (!lab.ok) return t.plan(0, `needs root and ip netns: ${lab.reason}`);
  const prefix = randomPrefix();
  const scratch = await scratchNetns(t, `${prefix}-probe`);
  const probe = await probeNftables({ netns: scratch });
  if (!probe.ok) return t.plan(0, `nftables unusable: ${probe.reason}`);

  t.test('probe', async (t) => {
    t.same(await probeNftables({ netns: scratch }), { ok: true });
    t.notMatch(await execIn(scratch, ['nft', 'list', 'tables']), /shoal/, 'probing leaves no table behind');
    const missing = await probeNftables({ nft: { run: () => Promise.reject(Object.assign(new Error('spawn nft ENOENT'), { stderr: '' })) } });
    t.equal(missing.ok, false, 'a failing nft is reported, not thrown');
    await t.rejects(systemNft(`${prefix}-missing`).run(['--version']), NftCommandError, 'nft in a namespace that does not exist');
  });

  t.test('forwarding through a node namespace', async (t) => {
    const topo = await buildTopology(t, ['a', 'b', 'c']);
    await execIn(topo.node, ['nft', '-f', '-'], FOREIGN_TABLE);
    const foreignBefore = await execIn(topo.node, ['nft', 'list', 'table', 'inet', 'shoaltest_foreign']);
    const env = { ...process.env, SHOAL_NFT_TOPOLOGY: JSON.stringify(topo) };
    const child = path.join(__dirname, 'forwarding-child.js');
    await t.spawn('ip', ['netns', 'exec', topo.client, process.execPath, child], { env }, 'clients in a task namespace (prerouting)');
    // The output hook only changes where packets enter: the core cases are enough there.
    const outputCases = 'round robin|published port|draining|turned away|close removes';
    await t.spawn('ip', ['netns', 'exec', topo.node, process.execPath, child], { env: { ...env, TAP_GREP: outputCases } }, 'clients on the node itself (output)');
    t.equal(await execIn(topo.node, ['nft', 'list', 'table', 'inet', 'shoaltest_foreign']), foreignBefore, 'the foreign table is untouched');
    t.notMatch(await execIn(topo.node, ['nft', 'list', 'tables']), /table ip shoal/, 'teardown left no shoal table');
  });

  t.test('the dataplane compliance suite, in a namespace', async (t) => {
    const ns = await scratchNetns(t, `${prefix}-solo`);
    // On lo: no dummy module needed, and the addresses are as local as on any interface.
    await systemIp.run(['-n', ns, 'addr', 'add', '10.98.0.1/32', 'dev', 'lo']);
    await systemIp.run(['-n', ns, 'addr', 'add', '10.98.0.11/32', 'dev', 'lo']);
    const env = { ...process.env, SHOAL_NFT_FRONTEND_ADDRESS: '10.98.0.1', SHOAL_NFT_BACKEND_ADDRESS: '10.98.0.11' };
    await t.spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(__dirname, 'compliance-child.js')], { env }, 'compliance');
    t.notMatch(await execIn(ns, ['nft', 'list', 'tables']), /table ip shoal/, 'every close left no shoal table');
  });
});
