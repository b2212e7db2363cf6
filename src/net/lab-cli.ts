/**
 * `node dist/src/net/lab-cli.js up|down`: builds a netns lab by hand or for a
 * script (deploy/lab/lab.sh), and removes one left behind.
 */
import { Command, CommanderError } from 'commander';
import { InvalidArgumentError, ShoalError } from '../errors';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab } from './lab';
import { ShoalLab } from './shoal-lab';
import { DEFAULT_LAB_SUBNET } from './lab-plan';

function intArg(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return Number(value);
}

/** Parses argv and runs the command; resolves the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('lab').description('several hosts on this machine out of network namespaces').exitOverride();
  let code = 0;
  program
    .command('up')
    .description('build a lab, print its hosts, and tear it down on Ctrl-C or SIGTERM')
    .option('--hosts <n>', 'number of hosts', intArg, 3)
    .option('--name <prefix>', 'namespace name prefix (random when not given)')
    .option('--subnet <cidr>', 'underlay subnet, a test range', DEFAULT_LAB_SUBNET)
    .option('--format <format>', 'table or json', 'table')
    .option('--detach', 'leave the lab standing and exit; remove it later with `down --name`')
    .option('--shoal', 'start a shoal node in every host (netns mode; host 0 is the manager); not with --detach')
    .option('--dataplane <name>', 'with --shoal: the nodes\' --dataplane', 'auto')
    .action(async (o: { hosts: number; name?: string; subnet: string; format: string; detach?: boolean; shoal?: boolean; dataplane: string }) => {
      if (o.shoal && o.detach) throw new InvalidArgumentError('--shoal runs the nodes in the foreground: it cannot be used with --detach');
      const name = o.name ?? Lab.randomName();
      const stateRoot = o.shoal ? mkdtempSync(path.join(os.tmpdir(), `shoal-lab-${name}-`)) : '';
      const shoal = o.shoal
        ? await ShoalLab.create({ name, hosts: o.hosts, subnet: o.subnet, dataplane: o.dataplane, stateRoot, logFile: (k) => path.join(stateRoot, `h${k}.log`) })
        : null;
      const lab = shoal ? shoal.lab : await Lab.create({ name, hosts: o.hosts, subnet: o.subnet });
      if (o.format === 'json') {
        process.stdout.write(JSON.stringify({ name: lab.plan.prefix, underlay: lab.plan.underlayNetns, bridge: lab.plan.bridge, subnet: lab.plan.subnet, hosts: lab.hosts }) + '\n');
      } else {
        process.stdout.write(`lab ${lab.plan.prefix}: bridge ${lab.plan.bridge} in ${lab.plan.underlayNetns}, subnet ${lab.plan.subnet}\n`);
        process.stdout.write(`${'HOST'.padEnd(6)}${'NETNS'.padEnd(lab.plan.prefix.length + 8)}ADDRESS\n`);
        for (const h of lab.hosts) process.stdout.write(`${String(h.index).padEnd(6)}${h.netns.padEnd(lab.plan.prefix.length + 8)}${h.address}/${h.prefixLength}\n`);
      }
      if (o.detach) {
        lab.release();
        return;
      }
      if (shoal) {
        const sock = path.join(stateRoot, 'h0', 'shoal.sock');
        process.stdout.write(`shoal nodes up (logs in ${stateRoot}); try:\n`);
        process.stdout.write(`  node dist/src/cli/main.js -H unix://${sock} node ls\n`);
        process.stdout.write(`  node dist/src/cli/main.js -H unix://${sock} service create --name web --replicas 6 -p 8080:80 -w deploy -- node demo/web.js\n`);
        process.stdout.write(`  nsenter --net=/run/netns/${lab.host(1).netns} curl -s http://${lab.host(0).address}:8080/\n`);
      }
      process.stderr.write('lab up; Ctrl-C tears it down\n');
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      clearInterval(keepAlive);
      if (shoal) {
        await shoal.destroy();
        rmSync(stateRoot, { recursive: true, force: true });
      } else await lab.destroy();
      process.stderr.write(`lab ${lab.plan.prefix} removed\n`);
    });
  program
    .command('down')
    .description('remove every namespace and link of a lab, processes inside included')
    .requiredOption('--name <prefix>', 'the lab name prefix')
    .action(async (o: { name: string }) => {
      const removed = await Lab.cleanupStale(o.name);
      process.stdout.write(removed.length > 0 ? `removed ${removed.join(' ')}\n` : `nothing of lab ${o.name} found\n`);
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`${err instanceof ShoalError ? err.message : String(err)}\n`);
    code = 1;
  }
  return code;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
