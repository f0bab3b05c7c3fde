import type { Registry } from 'prom-client';

/** A package object exposing plain counters (`bus.metrics()`, `events.metrics()`, …). */
export type MetricsFn = () => object;

const sanitize = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^(\d)/, '_$1');

/** Numeric leaves of a nested counters object, keyed `a_b_c`. */
export function flattenCounters(value: unknown, prefix = '', out = new Map<string, number>()) {
  if (typeof value === 'number' && Number.isFinite(value)) {
    out.set(prefix || 'value', value);
  } else if (typeof value === 'boolean') {
    out.set(prefix || 'value', value ? 1 : 0);
  } else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value))
      flattenCounters(v, prefix ? `${prefix}_${sanitize(k)}` : sanitize(k), out);
  }
  return out;
}

/**
 * Exposes a package's `metrics()` object as the family `x_<component>_stat{stat="…"}`,
 * read at scrape time. The packages keep their own counters (no prom-client dependency in
 * them); this adapter is the only place they meet Prometheus. Untyped, because one object
 * mixes counters and gauges.
 */
export function registerPackageMetrics(
  registry: Registry,
  component: string,
  read: MetricsFn,
): void {
  const name = `x_${sanitize(component)}_stat`;
  registry.registerMetric({
    name,
    help: `Counters reported by ${component}.metrics()`,
    type: 'untyped',
    get: async () => {
      let values: { labels: { stat: string }; value: number }[] = [];
      try {
        values = [...flattenCounters(read())].map(([stat, value]) => ({ labels: { stat }, value }));
      } catch {
        // Reported, not hidden: a scrape shows the component failed to report.
        values = [{ labels: { stat: 'metrics_error' }, value: 1 }];
      }
      return {
        name,
        help: `Counters reported by ${component}.metrics()`,
        type: 'untyped',
        values,
        aggregator: 'sum',
      };
    },
    reset: () => {},
    collect: () => {},
  } as unknown as Parameters<Registry['registerMetric']>[0]);
}
