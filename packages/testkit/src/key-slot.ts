/** Redis Cluster has 16384 hash slots; a key's slot is CRC16(key or its hash tag) mod 16384. */
export const CLUSTER_SLOTS = 16_384;

/** CRC16-CCITT (XModem: polynomial 0x1021, initial 0), the variant Redis Cluster uses. */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[byte] = crc & 0xffff;
  }
  return table;
})();

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++)
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

/**
 * The hash slot Redis Cluster gives `key`, as `CLUSTER KEYSLOT` answers it. Redis hashes the
 * key's bytes (a string is taken as UTF-8). When the key has a `{` and a later `}` with at
 * least one byte between the first `{` and the first `}` after it, only those bytes are hashed
 * (the hash tag), so `{user1}:a` and `{user1}:b` share a slot; `{}` or an unclosed `{` hashes
 * the whole key.
 *
 * @example keySlot('{run:42}:events') === keySlot('{run:42}:stop')
 */
export function keySlot(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(OPEN);
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1);
    if (close > open + 1) return crc16(bytes, open + 1, close) % CLUSTER_SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % CLUSTER_SLOTS;
}
