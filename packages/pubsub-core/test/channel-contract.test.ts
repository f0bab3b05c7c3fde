import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { createBus, defineChannel, memoryTransport, PubSubError } from '../src/index.js';

const runAbort = defineChannel({
  name: 'run-abort',
  version: 1,
  schema: z.object({ runId: z.string(), reason: z.string() }),
});
const shard = defineChannel({
  name: 'run:{runId}:shard:{shardIndex}',
  version: 3,
  schema: z.object({ state: z.enum(['started', 'completed']) }),
});

describe('defineChannel', () => {
  it('fills and validates every parameter of the name template', () => {
    expect(shard.params).toEqual(['runId', 'shardIndex']);
    expect(shard.resolve({ runId: 'r-1', shardIndex: '2' })).toBe('run:r-1:shard:2');
    expect(() => shard.resolve({ runId: 'r-1' } as never)).toThrow(/shardIndex/);
    for (const bad of ['*', 'a:b', ' ', 'a\tb', '?', '[a]', 'x'.repeat(201)]) {
      expect(() => shard.resolve({ runId: bad, shardIndex: '1' })).toThrow(PubSubError);
    }
  });

  it('fills the hashTag placeholder in braces, so the channel hashes like keys tagged the same', async () => {
    const tagged = defineChannel({
      name: 'run:{runId}:shard:{shardIndex}',
      version: 1,
      schema: z.object({}),
      hashTag: 'runId',
    });
    expect(tagged.hashTag).toBe('runId');
    expect(tagged.resolve({ runId: 'r-1', shardIndex: '2' })).toBe('run:{r-1}:shard:2');
    expect(shard.hashTag).toBeUndefined();
    const bus = createBus({ transport: memoryTransport(), prefix: 'tags' });
    expect(bus.channel(tagged, { runId: 'r', shardIndex: '0' }).name).toBe('tags:run:{r}:shard:0');
    await bus.close();
  });

  it('refuses bad definitions with a message naming the problem', () => {
    const schema = z.object({});
    expect(() =>
      // @ts-expect-error the hash tag must be one of the name's placeholders
      defineChannel({ name: 'run:{runId}', version: 1, schema, hashTag: 'shard' }),
    ).toThrow(/hashTag/);
    expect(() => defineChannel({ name: 'a b', version: 1, schema })).toThrow(/may only contain/);
    expect(() => defineChannel({ name: 'a*', version: 1, schema })).toThrow(/may only contain/);
    expect(() => defineChannel({ name: 'a', version: 0, schema })).toThrow(/version/);
    expect(() => defineChannel({ name: 'a', version: 1, schema, maxBytes: 1 })).toThrow(/maxBytes/);
  });

  it('parses payloads without throwing and names the failing field', () => {
    expect(runAbort.parse({ runId: 'r', reason: 'user' })).toEqual({
      ok: true,
      value: { runId: 'r', reason: 'user' },
    });
    expect(runAbort.parse({ runId: 1 })).toMatchObject({ ok: false, detail: /runId/ });
  });

  it("takes the accept check's value when it gives one, and leaves every other payload to the schema", () => {
    const seen: unknown[] = [];
    const checked = defineChannel({
      name: 'checked',
      version: 1,
      schema: z.object({ n: z.number().int() }).transform(({ n }) => ({ n, from: 'schema' })),
      accept: (payload) => {
        seen.push(payload);
        if ((payload as { n?: unknown }).n === 'boom') throw new Error('bug in the check');
        const { n } = payload as { n?: unknown };
        return n === 1 ? { n, from: 'accept' } : undefined;
      },
    });
    expect(checked.parse({ n: 1 })).toEqual({ ok: true, value: { n: 1, from: 'accept' } });
    // Not the common case: the schema decides, accepting or refusing with its own message.
    expect(checked.parse({ n: 2 })).toEqual({ ok: true, value: { n: 2, from: 'schema' } });
    expect(checked.parse({ n: 1.5 })).toMatchObject({ ok: false, detail: /^n: / });
    // A throwing check is a bug in the check: the schema still refuses, parse never throws.
    expect(checked.parse({ n: 'boom' })).toMatchObject({ ok: false, detail: /^n: / });
    expect(seen).toHaveLength(4);
  });

  it('types channel parameters: required when the name has placeholders, absent otherwise', async () => {
    const bus = createBus({ transport: memoryTransport(), prefix: 'types' });
    expect(bus.channel(runAbort).name).toBe('types:run-abort');
    expect(bus.channel(shard, { runId: 'r', shardIndex: '0' }).name).toBe('types:run:r:shard:0');
    // @ts-expect-error parameters are required for a parameterised name
    expect(() => bus.channel(shard)).toThrow(PubSubError);
    await bus.close();
  });

  it('refuses to bind two different contracts to one channel name', async () => {
    const bus = createBus({ transport: memoryTransport() });
    const other = defineChannel({ name: 'run-abort', version: 2, schema: z.object({}) });
    await bus.channel(runAbort).subscribe(() => {});
    expect(() => bus.channel(other)).toThrow(expect.objectContaining({ code: 'channel_conflict' }));
    await bus.close();
  });

  it('takes a prefix whose first segment is a cluster hash tag', async () => {
    const bus = createBus({ transport: memoryTransport(), prefix: '{x}:blue' });
    expect(bus.prefix).toBe('{x}:blue');
    await bus.close();
  });

  it('refuses bad bus options', () => {
    const transport = memoryTransport();
    expect(() => createBus({ transport, prefix: 'a b' })).toThrow(/prefix/);
    expect(() => createBus({ transport, prefix: 'a:{b}' })).toThrow(/prefix/);
    expect(() => createBus({ transport, prefix: '{a' })).toThrow(/prefix/);
    expect(() => createBus({ transport, origin: 'me' })).toThrow(/origin/);
    expect(() => createBus({ transport, maxMessageBytes: 0 })).toThrow(/maxMessageBytes/);
  });
});
