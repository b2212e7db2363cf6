/**
 * The stack `shoal up --stack FILE` deploys into its local cluster: a compose
 * file read as `stack deploy` reads it (src/stack), its services created
 * under their own names on the cluster's default network. Networks, secrets
 * and configs need `shoal stack deploy`.
 */
import { InvalidArgumentError } from '../errors';
import type { ServiceSpec } from '../model/types';
import { validateServiceSpec } from '../spec/service-spec';
import { loadComposeFiles } from '../stack/compose-file';
import { composeServiceSpec, STACK_LABELS } from '../stack/compose-service';

/** Service specs of `file`; warnings (keys shoal ignores) go to `warn`. */
export async function loadStackFile(file: string, warn: (line: string) => void = () => undefined): Promise<ServiceSpec[]> {
  const loaded = loadComposeFiles([file], process.env);
  const { project } = loaded;
  for (const key of ['networks', 'secrets', 'configs'] as const) {
    if (project[key] && Object.keys(project[key]!).length > 0) throw new InvalidArgumentError(`${file}: ${key} need shoal stack deploy -c ${file} NAME; shoal up --stack deploys services only`);
  }
  const warnings = [...loaded.warnings];
  const none = new Map<string, string>();
  const specs = Object.entries(project.services).map(([name, svc]) => {
    const raw = composeServiceSpec(name, svc, { namespace: '', dir: loaded.dir, vars: loaded.vars, networks: none, secrets: none, configs: none, defaultNetwork: '' }, warnings);
    delete raw.networks;
    delete raw.labels[STACK_LABELS.namespace];
    try {
      return validateServiceSpec(raw);
    } catch (err) {
      throw new InvalidArgumentError(`${file}: services.${name}: ${(err as Error).message}`);
    }
  });
  warnings.forEach(warn);
  return specs;
}
