import { z } from 'zod';
import type { ClusterStartupNode, RedisTarget } from './redis-target.js';

type ClusterTarget = Extract<RedisTarget, { kind: 'cluster' }>;

/** `host:port`, `[v6]:port` or `v4:port`; the host part is checked by `HOST_PATTERN`. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^:/@[\]\s]+):(\d{1,5})$/;
const HOST_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$/;

interface Entry {
  readonly node: ClusterStartupNode;
  /** Scheme and credentials, compared across entries: `plain`, or the URL's. */
  readonly access: { tls: boolean; username?: string; password?: string } | 'plain';
}

/**
 * Parses `REDIS_CLUSTER_NODES`: comma-separated startup nodes, each `host:port`
 * (`[::1]:7000` for IPv6), or all of them `redis://[user:password@]host:port` /
 * `rediss://…` URLs that agree on scheme and credentials, for TLS and passwords the way
 * `REDIS_URL` takes them. Returns the target, or the problem as one phrase that names the
 * entry by position (never its text, which may hold a password).
 */
export function parseClusterNodes(value: string): ClusterTarget | { problem: string } {
  const raw = value.split(',').map((item) => item.trim());
  const entries: Entry[] = [];
  const seen = new Set<string>();
  for (const [i, item] of raw.entries()) {
    const at = `entry ${i + 1}`;
    if (!item) return { problem: `${at} is empty (write host:port,host:port,...)` };
    const entry = item.includes('://') ? parseUrlEntry(item) : parsePlainEntry(item);
    if (typeof entry === 'string') return { problem: `${at} ${entry}` };
    const key = `${entry.node.host}:${entry.node.port}`;
    if (seen.has(key)) return { problem: `${at} repeats an earlier node` };
    seen.add(key);
    entries.push(entry);
  }
  const first = JSON.stringify(entries[0]?.access);
  if (entries.some((entry) => JSON.stringify(entry.access) !== first)) {
    return {
      problem:
        'entries must all be host:port, or all redis:// (rediss:// for TLS) URLs with the same scheme and credentials',
    };
  }
  const access = entries[0]?.access ?? 'plain';
  return {
    kind: 'cluster',
    nodes: entries.map((entry) => entry.node),
    tls: access !== 'plain' && access.tls,
    ...(access !== 'plain' && access.username !== undefined && { username: access.username }),
    ...(access !== 'plain' && access.password !== undefined && { password: access.password }),
  };
}

function parsePlainEntry(item: string): Entry | string {
  const match = HOST_PORT.exec(item);
  if (!match) return 'must be host:port';
  const node = nodeOf(match[1] as string, match[2] as string);
  return typeof node === 'string' ? node : { node, access: 'plain' };
}

function parseUrlEntry(item: string): Entry | string {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    return 'must be host:port or a redis:// URL';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return 'must use redis:// or rediss://';
  }
  if (url.pathname !== '' && url.pathname !== '/') {
    return 'must not name a database (a Redis Cluster has only database 0)';
  }
  if (url.search || url.hash) return 'must not carry a query or fragment';
  if (!url.port) return 'must name its port';
  const node = nodeOf(url.hostname, url.port);
  if (typeof node === 'string') return node;
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  return {
    node,
    access: {
      tls: url.protocol === 'rediss:',
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
    },
  };
}

function nodeOf(host: string, port: string): ClusterStartupNode | string {
  if (!HOST_PATTERN.test(host)) return 'has an invalid host';
  const number = Number(port);
  if (!/^\d{1,5}$/.test(port) || number < 1 || number > 65_535) {
    return 'must have a port from 1 to 65535';
  }
  // ioredis wants an IPv6 address without its brackets.
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: number };
}

/**
 * The zod field for `REDIS_CLUSTER_NODES`: unset, or a cluster target. Treat the variable as
 * secret in `parseEnv` (its URLs may carry a password); the messages never echo an entry.
 */
export const clusterNodesEnv = () =>
  z.string().transform((value, ctx): ClusterTarget => {
    const parsed = parseClusterNodes(value);
    if ('problem' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    }
    return parsed;
  });
