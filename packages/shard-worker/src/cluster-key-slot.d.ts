// cluster-key-slot (the hash-slot function ioredis itself uses) ships no types.
declare module 'cluster-key-slot' {
  /** Redis Cluster's hash slot of `key` (CRC16 of the key or its `{tag}`, mod 16384). */
  export default function calculateSlot(key: string | Buffer): number;
}
