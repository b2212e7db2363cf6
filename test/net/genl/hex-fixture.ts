/**
 * Byte fixtures written by hand as commented hex: everything after `//` on a
 * line is a comment, whitespace is ignored, the rest must be hex pairs.
 */
export function hex(text: string): Buffer {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex fixture: ${digits}`);
  return Buffer.from(digits, 'hex');
}

/** Hex dump of bytes in rows of 16, for readable failure diffs. */
export function rows(b: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 16) out.push(b.subarray(i, i + 16).toString('hex').replace(/(..)/g, '$1 ').trim());
  return out;
}
