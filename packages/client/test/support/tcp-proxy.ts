import { createServer, Socket } from 'node:net';

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: the api as seen through the proxy. */
  url: string;
  /** A network cut: every open connection is reset at once. New connections still pass. */
  cut(): void;
  /**
   * A silent failure: open connections stay open but no byte passes any more in either
   * direction (a NAT that forgot them). New connections still pass.
   */
  freeze(): void;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A real TCP hop between a client and the api, so tests can cut or stall the network. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const frozen: Socket[] = [];
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    upstream.connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.push(client, upstream);
      }
      pairs.clear();
    },
    connections: () => accepted,
    close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const socket of frozen) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
