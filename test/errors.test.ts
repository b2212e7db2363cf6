import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import * as errors from '../src/errors';
import { ERROR_CLASSES, ERROR_CODES, errorFromCode, isTemporary, asShoalError, ConflictError, InvalidArgumentError, ShoalError } from '../src/errors';
import { FamilyNotFoundError } from '../src/net/genl/ctrl-family';
import { NetlinkError } from '../src/net/genl/netlink-error';
import { NftCommandError } from '../src/mesh/dataplane/nftables/nft-runner';

/** The repository root: tests run from dist/test/. */
const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(ROOT, 'src');
/** The one line of src/errors.ts allowed to build the base class (its INTERNAL fallback). */
const REGISTRY_MARKER = 'errors-registry: the only INTERNAL construction';
/** Ways to build an error without a failure kind of its own. */
const UNTYPED_ERROR = /\bnew\s+(?:ShoalError|Error)\s*\(|\bthrow\s+Error\s*\(|\breject\(\s*Error\s*\(/;
/** A class that would pick its own code outside the registry (subclass a registry class instead). */
const DIRECT_SUBCLASS = /\bextends\s+(?:ShoalError|Error)\b/;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** `file:line: text` of every line that builds an untyped error or subclasses the base outside the registry. */
function untypedSites(file: string, text: string): string[] {
  const registry = file === 'src/errors.ts';
  return text.split('\n').flatMap((line, i) => {
    const bad = (UNTYPED_ERROR.test(line) && !(registry && line.includes(REGISTRY_MARKER))) || (!registry && DIRECT_SUBCLASS.test(line));
    return bad ? [`${file}:${i + 1}: ${line.trim()}`] : [];
  });
}

t.test('the scanner flags untyped errors and nothing else', async (t) => {
  const cases: [string, string, boolean][] = [
    ['src/x.ts', "throw new ShoalError('m');", true],
    ['src/x.ts', 'return Promise.reject(new Error(`m`));', true],
    ['src/x.ts', "throw Error('m');", true],
    ['src/x.ts', "reject(Error('m'));", true],
    ['src/x.ts', 'export class MyError extends ShoalError {', true],
    ['src/x.ts', "throw new NotFoundError('m');", false],
    ['src/x.ts', 'export class NetlinkError extends NetlinkRequestError {', false],
    ['src/x.ts', `return new ShoalError(message); // ${REGISTRY_MARKER}`, true],
    ['src/errors.ts', `return new ShoalError(message); // ${REGISTRY_MARKER}`, false],
    ['src/errors.ts', "return new ShoalError('m');", true],
  ];
  for (const [file, line, flagged] of cases) t.equal(untypedSites(file, line).length > 0, flagged, `${file}: ${line}`);
});

t.test('no file under src/ throws an error without its own class and code', async (t) => {
  const files = tsFiles(SRC);
  t.ok(files.length > 100, `scanned ${files.length} files`);
  const sites = files.flatMap((f) => untypedSites(path.relative(ROOT, f).split(path.sep).join('/'), readFileSync(f, 'utf8')));
  t.same(sites, [], 'every thrown error has a class of its own');
  const registry = readFileSync(path.join(SRC, 'errors.ts'), 'utf8');
  t.equal(registry.split('\n').filter((l) => /\bnew\s+ShoalError\s*\(/.test(l)).length, 1, 'the registry builds the base class in one place');
});

t.test('every error class has a unique, documented code', async (t) => {
  const codes = ERROR_CLASSES.map((C) => new C('x').code);
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
  for (const code of codes) t.ok(ERROR_CODES[code], `${code} is documented`);
  t.same(Object.keys(ERROR_CODES).sort(), [...codes].sort(), 'no documented code without a class');
  const internal = ERROR_CLASSES.filter((C) => new C('x').code === 'SHOAL_ERR_INTERNAL');
  t.same(internal, [ShoalError], 'only the base class is SHOAL_ERR_INTERNAL');
  const exported = Object.values(errors).filter((v) => typeof v === 'function' && (v === ShoalError || v.prototype instanceof ShoalError));
  t.same(exported.filter((C) => !(ERROR_CLASSES as readonly unknown[]).includes(C)), [], 'ERROR_CLASSES lists every class errors.ts exports');
  for (const C of ERROR_CLASSES) {
    const e = new C('m');
    t.equal(e.name, C.name, `${C.name} names itself`);
    t.ok(e.status >= 400 && e.status < 600, `${C.name} has an HTTP error status`);
  }
});

t.test('classes outside the registry take their code from a registry class', async (t) => {
  const cases: [ShoalError, string][] = [
    [new NetlinkError('get', 2), 'SHOAL_ERR_NETLINK_REQUEST_FAILED'],
    [new FamilyNotFoundError('IPVS'), 'SHOAL_ERR_NETLINK_FAMILY_NOT_FOUND'],
    [new NftCommandError('nft: x', 'x'), 'SHOAL_ERR_COMMAND_FAILED'],
  ];
  for (const [e, code] of cases) t.equal(e.code, code, e.name);
});

t.test('the README lists every code', async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) t.match(readme, `\`${code}\``, code);
});

t.test('errors rebuild from their code and say whether a retry may help', async (t) => {
  const e = errorFromCode('SHOAL_ERR_INVALID_ARGUMENT', 'bad');
  t.type(e, InvalidArgumentError);
  t.equal(e.message, 'bad');
  t.equal(e.status, 400);
  t.ok(isTemporary(new ConflictError('x')));
  t.notOk(isTemporary(new InvalidArgumentError('x')));
  t.notOk(isTemporary(new Error('x')));
  t.equal(errorFromCode('NOPE', 'm').code, 'SHOAL_ERR_INTERNAL', 'unknown codes fall back to internal');
});

t.test('an unexpected error becomes internal; shoal errors keep their code', async (t) => {
  const own = new ConflictError('lost');
  t.equal(asShoalError(own), own);
  const wrapped = asShoalError(new RangeError('boom'));
  t.same([wrapped.code, wrapped.status, wrapped.message], ['SHOAL_ERR_INTERNAL', 500, 'boom']);
});

t.test('network errors rebuild from their code with their status', async (t) => {
  const cases: [string, string, number][] = [
    ['SHOAL_ERR_NETWORK_NOT_FOUND', 'NetworkNotFoundError', 404],
    ['SHOAL_ERR_NETWORK_OVERLAP', 'NetworkOverlapError', 409],
    ['SHOAL_ERR_NETWORK_IN_USE', 'NetworkInUseError', 409],
    ['SHOAL_ERR_ADDRESS_POOL_EXHAUSTED', 'AddressPoolExhaustedError', 409],
  ];
  for (const [code, name, status] of cases) {
    const e = errorFromCode(code, 'm');
    t.same([e.name, e.status, e.code, isTemporary(e)], [name, status, code, false], code);
  }
});
