/**
 * `shoal secret create|ls|inspect|rm` and the same for `config`: Docker's
 * commands. Data comes from a file or stdin (`-`) and travels base64 in
 * JSON; a secret's data never comes back.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { PayloadCreateRequest } from '../../api/contract';
import { InvalidArgumentError } from '../../errors';
import { checkPayloadSize, MAX_PAYLOAD_BYTES, validatePayloadName, type PayloadKind } from '../../spec/payload';
import { clientFor, outputFormat, printJson, type GlobalFlags } from '../context';
import { collect, parseKeyValues } from '../service-flags';
import { renderTable } from '../table';

/** A secret or config as ls and inspect get it (a secret without data). */
interface PayloadView {
  id: string;
  name: string;
  labels: Record<string, string>;
  data?: string;
  createdAt: string;
  updatedAt: string;
}

const short = (id: string) => id.slice(0, 12);

/** The bytes of `file`, or of stdin for `-`; stops reading past the kind's limit so the size check can say how big. */
async function readData(file: string, kind: PayloadKind): Promise<Buffer> {
  if (file !== '-') {
    try {
      return await readFile(file);
    } catch (err) {
      throw new InvalidArgumentError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    size += (c as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES[kind]) break;
  }
  return Buffer.concat(chunks);
}

/** Rows of `ls`: Docker's columns, sorted by name. */
export function payloadRows(items: readonly PayloadView[], trunc = true): string[][] {
  return [...items].sort((a, b) => a.name.localeCompare(b.name)).map((x) => [trunc ? short(x.id) : x.id, x.name, x.createdAt, x.updatedAt]);
}

/** Register `shoal <kind> ...`. */
export function registerPayloadCommands(program: Command, globals: () => GlobalFlags, kind: PayloadKind): void {
  const what = kind === 'secret' ? 'Docker-style secrets (encrypted at rest, delivered only to nodes that need them)' : 'configs (files given to tasks)';
  const cmd = program.command(kind).description(`Manage ${what}`);
  const base = `/v1/${kind}s`;

  cmd
    .command('create')
    .description(`Create a ${kind} from a file or STDIN (-): shoal ${kind} create [OPTIONS] NAME FILE|-`)
    .option('-l, --label <KEY=VALUE>', `${kind} label`, collect, [])
    .argument('<name>')
    .argument('<file>')
    .action(async (name: string, file: string, flags: { label: string[] }) => {
      validatePayloadName(name, kind);
      const data = await readData(file, kind);
      checkPayloadSize(data.length, kind);
      const req: PayloadCreateRequest = { name, labels: parseKeyValues(flags.label, 'label'), data: data.toString('base64') };
      const x = await clientFor(globals()).call<PayloadView>('POST', base, req);
      process.stdout.write(`${x.id}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description(`List ${kind}s`)
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'Only display IDs')
    .option('--no-trunc', 'Do not truncate the output')
    .action(async (flags: { format?: string; quiet?: boolean; trunc: boolean }) => {
      const format = outputFormat(flags.format);
      const items = await clientFor(globals()).call<PayloadView[]>('GET', base);
      items.sort((a, b) => a.name.localeCompare(b.name));
      if (format === 'json') return printJson(items.map(({ data: _data, ...rest }) => rest));
      if (flags.quiet) return void process.stdout.write(items.map((x) => (flags.trunc ? short(x.id) : x.id) + '\n').join(''));
      process.stdout.write(renderTable(['ID', 'NAME', 'CREATED', 'UPDATED'], payloadRows(items, flags.trunc)));
    });

  cmd
    .command('inspect')
    .description(`Display detailed information on one or more ${kind}s${kind === 'secret' ? ' (never the data)' : ''}`)
    .argument(`<${kind}...>`)
    .action(async (ids: string[]) => {
      const client = clientFor(globals());
      const out: PayloadView[] = [];
      for (const id of ids) out.push(await client.call<PayloadView>('GET', `${base}/${encodeURIComponent(id)}`));
      printJson(out);
    });

  cmd
    .command('rm')
    .alias('remove')
    .description(`Remove one or more ${kind}s (refused while a service uses one)`)
    .argument(`<${kind}...>`)
    .action(async (ids: string[]) => {
      const client = clientFor(globals());
      // Resolve every name first, so a typo in the list removes nothing.
      const found: { given: string; id: string }[] = [];
      for (const id of ids) found.push({ given: id, id: (await client.call<PayloadView>('GET', `${base}/${encodeURIComponent(id)}`)).id });
      for (const { given, id } of found) {
        await client.call('DELETE', `${base}/${id}`);
        process.stdout.write(`${given}\n`);
      }
    });
}
