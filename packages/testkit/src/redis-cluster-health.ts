import { CLUSTER_SLOTS } from './key-slot.js';
import type { NodeView } from './redis-cluster-view.js';

/** A node the kit started, as the health check needs it. */
export interface KnownNode {
  readonly port: number;
  readonly id: string;
  readonly running: boolean;
}

const BAD_FLAGS = ['fail', 'fail?', 'handshake', 'noaddr'];

/**
 * Why the cluster is not healthy yet, one phrase per problem; empty when it is. Healthy means,
 * for every running node: it answers, reports `cluster_state:ok` with all 16384 slots assigned
 * and none failing, sees the same slot owners as the others and no running peer as failed or
 * unknown; every slot's owner is a running node that serves it as a primary; and every running
 * replica's link to its primary is up. Killed nodes are left out: a cluster that failed over
 * is healthy without them.
 */
export function healthProblems(
  nodes: readonly KnownNode[],
  views: ReadonlyMap<number, NodeView | Error>,
): string[] {
  const problems: string[] = [];
  const running = nodes.filter((node) => node.running);
  const byId = new Map(nodes.map((node) => [node.id, node]));
  let reference: { port: number; owners: string } | undefined;
  for (const node of running) {
    const at = `127.0.0.1:${node.port}`;
    const view = views.get(node.port);
    if (!view || view instanceof Error) {
      problems.push(`${at} does not answer${view ? ` (${view.message})` : ''}`);
      continue;
    }
    const info = view.clusterInfo;
    if (info.cluster_state !== 'ok') problems.push(`${at} has cluster_state:${info.cluster_state}`);
    for (const field of ['cluster_slots_assigned', 'cluster_slots_ok']) {
      if (Number(info[field]) !== CLUSTER_SLOTS) problems.push(`${at} has ${field}:${info[field]}`);
    }
    const owners = slotOwners(view);
    if (!reference) reference = { port: node.port, owners };
    else if (owners !== reference.owners) {
      problems.push(`${at} and 127.0.0.1:${reference.port} disagree on slot owners`);
    }
    for (const peer of running) {
      if (peer === node || !peer.id) continue;
      const line = view.nodes.find((candidate) => candidate.id === peer.id);
      const bad = line?.flags.filter((flag) => BAD_FLAGS.includes(flag)) ?? [];
      if (!line) problems.push(`${at} does not know 127.0.0.1:${peer.port}`);
      else if (bad.length > 0) problems.push(`${at} flags 127.0.0.1:${peer.port} ${bad.join(',')}`);
    }
    if (view.replication.role === 'slave' && view.replication.master_link_status !== 'up') {
      problems.push(`replica ${at} has master_link_status:${view.replication.master_link_status}`);
    }
  }
  const first = reference && views.get(reference.port);
  if (first && !(first instanceof Error)) {
    for (const line of first.nodes) {
      if (line.slots.length === 0) continue;
      const owner = byId.get(line.id);
      const ownView = owner && views.get(owner.port);
      if (!owner?.running) {
        problems.push(
          `slots ${ranges(line.slots)} are owned by 127.0.0.1:${line.port}, which is down`,
        );
      } else if (ownView && !(ownView instanceof Error) && ownView.replication.role !== 'master') {
        problems.push(
          `slots ${ranges(line.slots)} are owned by 127.0.0.1:${owner.port}, not a primary`,
        );
      }
    }
  }
  return problems;
}

/** A canonical text of who owns which slots in one node's view, to compare views. */
function slotOwners(view: NodeView): string {
  return view.nodes
    .flatMap((line) => line.slots.map(([start, end]) => ({ start, end, id: line.id })))
    .sort((a, b) => a.start - b.start)
    .map(({ start, end, id }) => `${start}-${end}=${id}`)
    .join(' ');
}

function ranges(slots: readonly (readonly [number, number])[]): string {
  return slots.map(([start, end]) => (start === end ? `${start}` : `${start}-${end}`)).join(',');
}
