import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export interface CpuSample {
  /** Busy CPU ms of the whole machine (every process, every core) so far; NaN off Linux. */
  machineMs: number;
  /** CPU ms (user + system) of this process so far. */
  ownMs: number;
  /** CPU ms of the Redis server so far (INFO cpu). */
  redisMs: number;
}

/**
 * Where a round's CPU went: the machine's busy time from /proc/stat (user, nice, system,
 * irq, softirq, steal; not idle or iowait), this process's own and the Redis server's. On a
 * machine with nothing else running, the rest is what PostgreSQL spent.
 */
export async function sampleCpu(redis: Redis): Promise<CpuSample> {
  const own = process.cpuUsage();
  const info = await redis.info('cpu');
  const seconds = (field: string) =>
    Number(info.match(new RegExp(`^${field}:([\\d.]+)`, 'm'))?.[1]);
  return {
    machineMs: machineBusyMs(),
    ownMs: (own.user + own.system) / 1000,
    redisMs: (seconds('used_cpu_sys') + seconds('used_cpu_user')) * 1000,
  };
}

function machineBusyMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
    // USER_HZ is 100 on every Linux this runs on.
    return ((user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** What was used since `before`, in the same three parts. */
export async function cpuSince(redis: Redis, before: CpuSample): Promise<CpuSample> {
  const after = await sampleCpu(redis);
  return {
    machineMs: after.machineMs - before.machineMs,
    ownMs: after.ownMs - before.ownMs,
    redisMs: after.redisMs - before.redisMs,
  };
}
