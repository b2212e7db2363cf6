import t from 'tap';
import { ERROR_CLASSES, ERROR_CODES, errorFromCode, isTemporary, ConflictError, InvalidArgumentError } from '../src/errors';

t.test('every error class has a unique, documented code', async (t) => {
  const codes = ERROR_CLASSES.map((C) => new C('x').code);
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
  for (const code of codes) t.ok(ERROR_CODES[code], `${code} is documented`);
  t.same(Object.keys(ERROR_CODES).sort(), [...codes].sort(), 'no documented code without a class');
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
