import { Redis } from 'ioredis';

/** One line of `CLUSTER NODES`: a node as another node sees it. */
export interface NodeLine {
  readonly id: string;
  readonly port: number;
  /** `myself`, `master`, `slave`, `fail?` (pfail), `fail`, `handshake`, `noaddr`, ... */
  readonly flags: readonly string[];
  /** The primary's id for a replica. */
  readonly primaryId: string | undefined;
  readonly configEpoch: number;
  /** Inclusive slot ranges it owns (importing/migrating markers left out). */
  readonly slots: readonly (readonly [number, number])[];
}

/** What one node reports about itself and the cluster. */
export interface NodeView {
  readonly port: number;
  /** `CLUSTER INFO` fields (`cluster_state`, `cluster_slots_assigned`, ...). */
  readonly clusterInfo: Readonly<Record<string, string>>;
  /** `INFO replication` fields (`role`, `master_link_status`, ...). */
  readonly replication: Readonly<Record<string, string>>;
  readonly nodes: readonly NodeLine[];
  readonly myself: NodeLine;
}

/** Asks one node for its view, within `timeoutMs` (connect and commands each). */
export async function probeNode(host: string, port: number, timeoutMs = 1_000): Promise<NodeView> {
  const client = new Redis({
    host,
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {}); // a dead node is an answer here; the rejected call carries it
  try {
    await client.connect();
    const [info, nodes, replication] = await Promise.all([
      client.call('CLUSTER', 'INFO'),
      client.call('CLUSTER', 'NODES'),
      client.call('INFO', 'replication'),
    ]);
    const lines = parseClusterNodes(String(nodes));
    const myself = lines.find((line) => line.flags.includes('myself'));
    if (!myself) throw new Error(`127.0.0.1:${port} lists no myself line in CLUSTER NODES`);
    return {
      port,
      clusterInfo: parseInfo(String(info)),
      replication: parseInfo(String(replication)),
      nodes: lines,
      myself,
    };
  } finally {
    client.disconnect();
  }
}

/** `key:value` lines (CLUSTER INFO, INFO sections) into a record; `#` headers skipped. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/**
 * `CLUSTER NODES` text into lines. Format per line:
 * `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping> <pong> <epoch> <link> <slot>...`
 */
export function parseClusterNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [id = '', address = '', flags = '', primary = '-', , , epoch = '0', , ...slots] =
        line.split(' ');
      const hostPort = address.split('@')[0] ?? '';
      return {
        id,
        port: Number(hostPort.slice(hostPort.lastIndexOf(':') + 1)),
        flags: flags.split(','),
        primaryId: primary === '-' ? undefined : primary,
        configEpoch: Number(epoch),
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [start, end = start] = slot.split('-');
            return [Number(start), Number(end)] as const;
          }),
      };
    });
}

/** Whether a node line owns `slot`. */
export function ownsSlot(line: NodeLine, slot: number): boolean {
  return line.slots.some(([start, end]) => slot >= start && slot <= end);
}
