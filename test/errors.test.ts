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
