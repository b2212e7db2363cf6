import * as zlib from 'node:zlib';

/** CRC-32 (IEEE 802.3, as zlib and gzip compute it) of a byte buffer. */
export type Crc32 = (data: Uint8Array) => number;

const CRC32_POLYNOMIAL = 0xedb88320;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? CRC32_POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** Table-driven CRC-32 for Node releases whose zlib lacks `crc32` (added in 20.15). */
export function crc32Table(data: Uint8Array): number {
  const t = crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Looked up at runtime: @types/node declares it, but older 20.x minors do not ship it.
const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 of the WAL frames and snapshots: zlib's native one when present, else the table. */
export const crc32: Crc32 = typeof native === 'function' ? (data) => native(data) >>> 0 : crc32Table;
