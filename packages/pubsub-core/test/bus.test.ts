import type { Logger } from '@x/kernel';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  createBus,
  createOrigin,
  defineChannel,
  encodeEnvelope,
  memoryTransport,
  ORIGIN_PATTERN,
  processOrigin,
  type TransportSink,
} from '../src/index.js';

const signals = defineChannel({ name: 'signals', version: 1, schema: z.object({ n: z.number() }) });

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  return { logger, lines };
}

const nullSink: TransportSink = { message() {}, state() {}, reconnected() {}, error() {} };

describe('bus', () => {
  it('logs a dropped message with its reason and detail, then rate-limits the flood', async () => {
    const transport = memoryTransport();
    const { logger, lines } = recordingLogger();
    const bus = createBus({ transport, logger, origin: createOrigin() });
    const got: number[] = [];
    await bus.channel(signals).subscribe(({ n }) => void got.push(n));
    const raw = transport.open(nullSink);
    for (let i = 0; i < 50; i++) raw.send('x:signals', 'garbage');
    raw.send(
      'x:signals',
      encodeEnvelope({
        v: 1,
        origin: createOrigin(),
        channel: 'x:signals',
        ts: 0,
        payload: { n: 1 },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toEqual([1]);
    expect(bus.metrics().dropped.malformed).toBe(50);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.obj).toMatchObject({ reason: 'malformed', channel: 'x:signals' });
    expect(String(warnings[0]?.obj.detail)).toMatch(/not JSON/);
    await bus.close();
    await raw.close();
  });

  it('logs a refused publish as an error naming the field', async () => {
    const { logger, lines } = recordingLogger();
    const bus = createBus({ transport: memoryTransport(), logger });
    expect(bus.channel(signals).publish({ n: 'one' } as unknown as { n: number })).toBe(false);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        obj: expect.objectContaining({ detail: expect.stringMatching(/^n:/) }),
      }),
    ]);
    await bus.close();
  });

  it('gives every bus its own origin by default, so two default buses hear each other', async () => {
    const transport = memoryTransport();
    const first = createBus({ transport });
    const second = createBus({ transport });
    expect(first.origin).toMatch(ORIGIN_PATTERN);
    expect(second.origin).not.toBe(first.origin);
    const got: number[] = [];
    await second.channel(signals).subscribe(({ n }) => void got.push(n));
    first.channel(signals).publish({ n: 7 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toEqual([7]);
    // A stable per-process id is opt-in.
    const third = createBus({ transport, origin: processOrigin() });
    expect(third.origin).toBe(processOrigin());
    await Promise.all([first.close(), second.close(), third.close()]);
  });

  it('lets a listener unsubscribe itself during dispatch without skipping the others', async () => {
    const bus = createBus({ transport: memoryTransport(), origin: createOrigin() });
    const calls: string[] = [];
    const self = await bus.channel(signals).subscribe(() => {
      calls.push('self');
      void self.unsubscribe();
    });
    await bus.channel(signals).subscribe(() => void calls.push('other'));
    bus.channel(signals).publish({ n: 1 });
    bus.channel(signals).publish({ n: 2 });
    expect(calls).toEqual(['self', 'other', 'other']);
    await bus.close();
  });

  it('fires onReconnect listeners and isolates one that throws', async () => {
    // Exercised end to end in redis-faults.test.ts; here the bus side of the contract alone.
    let sink: TransportSink | undefined;
    const bus = createBus({
      transport: {
        kind: 'test',
        open(s) {
          sink = s;
          return memoryTransport().open(s);
        },
      },
    });
    const calls: string[] = [];
    bus.onReconnect(() => {
      throw new Error('reconcile bug');
    });
    bus.onReconnect(async () => void calls.push('reconcile'));
    sink?.reconnected();
    expect(calls).toEqual(['reconcile']);
    expect(bus.metrics()).toMatchObject({ reconnects: 1, listenerErrors: 1 });
    await bus.close();
  });
});
