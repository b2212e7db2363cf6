/**
 * `shoal service ...`: one file per verb (service-create.ts, -update.ts with
 * rollback, -scale.ts, -ls.ts, -ps.ts, -inspect.ts, -logs.ts, -rm.ts), the
 * shared flags and helpers in service-shared.ts.
 */
import type { Command } from 'commander';
import { registerServiceCreate } from './service-create';
import { registerServiceInspect } from './service-inspect';
import { registerServiceLogs } from './service-logs';
import { registerServiceLs } from './service-ls';
import { registerServicePs } from './service-ps';
import { registerServiceRm } from './service-rm';
import { registerServiceScale } from './service-scale';
import type { Globals } from './service-shared';
import { registerServiceUpdate } from './service-update';

/** Register `shoal service ...`, its verbs in Docker's help order. */
export function registerService(program: Command, globals: Globals): void {
  const svc = program.command('service').description('Manage services');
  registerServiceCreate(svc, globals);
  registerServiceUpdate(svc, globals);
  registerServiceScale(svc, globals);
  registerServiceLs(svc, globals);
  registerServicePs(svc, globals);
  registerServiceInspect(svc, globals);
  registerServiceLogs(svc, globals);
  registerServiceRm(svc, globals);
}
