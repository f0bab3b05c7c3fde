import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { flattenCounters, registerPackageMetrics } from '../src/index.js';

describe('package metrics adapter', () => {
  it('flattens numeric and boolean leaves of nested counters, skipping the rest', () => {
    const flat = flattenCounters({
      published: 3,
      connected: true,
      'by-kind': { done: 1, '2xx': 4 },
      label: 'ignored',
      list: [1, 2],
      nan: Number.NaN,
    });
    expect(Object.fromEntries(flat)).toEqual({
      published: 3,
      connected: 1,
      by_kind_done: 1,
      by_kind__2xx: 4,
    });
  });

  it('exposes a metrics() object as x_<component>_stat, read at scrape time', async () => {
    const registry = new Registry();
    let published = 1;
    registerPackageMetrics(registry, 'run-events', () => ({ published, lag: { ms: 5 } }));
    published = 7;
    const text = await registry.metrics();
    expect(text).toContain('# TYPE x_run_events_stat untyped');
    expect(text).toContain('x_run_events_stat{stat="published"} 7');
    expect(text).toContain('x_run_events_stat{stat="lag_ms"} 5');
  });

  it('reports a component whose metrics() throws as metrics_error instead of failing the scrape', async () => {
    const registry = new Registry();
    registerPackageMetrics(registry, 'bus', () => {
      throw new Error('broken');
    });
    registerPackageMetrics(registry, 'ok', () => ({ n: 2 }));
    const text = await registry.metrics();
    expect(text).toContain('x_bus_stat{stat="metrics_error"} 1');
    expect(text).toContain('x_ok_stat{stat="n"} 2');
  });
});
