import { randomUUID } from 'node:crypto';
import { postgres } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunStore,
  migrate,
  openPglite,
  openPostgres,
  type RunStore,
  RunStoreError,
} from '../src/index.js';
import { runInput } from './helpers.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A small seeded generator: a failing case reproduces. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const OUT_OF_RANGE = [
  1e20,
  -1e20,
  8.64e15,
  -8.64e15,
  9e15,
  253_402_300_800_000,
  -1,
  1.5,
  Number.MAX_SAFE_INTEGER + 2,
  3_000_000_000,
  2_147_483_648,
];
const WRONG_TYPES = [null, true, {}, [], '1', 'r', 's', -0.5];

/** Every kind of junk a caller can put in `?cursor=`. */
function fuzzCursors(seed: number, count: number): string[] {
  const next = rng(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const cursors: string[] = [];
  const uuid = randomUUID();
  // The review's cursors, exactly.
  for (const n of [1e20, -1e20, 8.64e15, 9e15]) cursors.push(b64(['r', n, uuid]));
  cursors.push(b64(['s', 3_000_000_000, '1']));
  for (let i = 0; i < count; i++) {
    switch (Math.floor(next() * 6)) {
      case 0: {
        const bytes = Buffer.alloc(1 + Math.floor(next() * 60));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
        cursors.push(bytes.toString('base64url'));
        break;
      }
      case 1:
        cursors.push(b64(['r', pick([...OUT_OF_RANGE, ...WRONG_TYPES]), uuid]));
        break;
      case 2:
        cursors.push(b64(['s', pick([...OUT_OF_RANGE, ...WRONG_TYPES]), '1']));
        break;
      case 3:
        cursors.push(
          b64(['s', 0, pick(['99999999999999999999', '9223372036854775808', '-1', '1e3', 7])]),
        );
        break;
      case 4:
        cursors.push(b64([pick(['r', 's', 'x', 1]), pick(WRONG_TYPES), pick(WRONG_TYPES)]));
        break;
      default:
        cursors.push(b64(pick([{ r: 1 }, 'r', 42, ['r', 0, uuid, 'extra'], ['s', 0, '1', 1]])));
    }
  }
  return cursors;
}

const databases = [
  ['PGlite', async () => openPglite('memory'), async () => {}],
  [
    'PostgreSQL',
    async () => {
      const database = await postgres('runstore_cursor');
      cleanup.push(() => database.close());
      return openPostgres(database.url, { max: 2 });
    },
    async () => {},
  ],
] as const;
const cleanup: (() => Promise<void>)[] = [];

describe.each(databases)('cursors on %s', (_name, open) => {
  let store: RunStore;
  let destroy: () => Promise<void>;
  let ws: string;
  let runId: string;
  beforeAll(async () => {
    const db = await open();
    destroy = () => db.destroy();
    await migrate(db);
    store = createRunStore(db);
    const run = await store.createRun(runInput(1, 1));
    ws = run.workspaceId;
    runId = run.id;
  });
  afterAll(async () => {
    await destroy?.();
    for (const close of cleanup.splice(0)) await close();
  });

  it('refuses every tampered cursor as invalid_input naming the field cursor, never another error', async () => {
    for (const cursor of fuzzCursors(14, 300)) {
      for (const call of [
        () => store.listRuns(ws, { cursor }),
        () => store.getResults(ws, runId, { cursor }),
      ]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        // A valid cursor of the other kind, or a lucky random one, may decode: then it pages.
        if (err === undefined) continue;
        expect(err, cursor).toBeInstanceOf(RunStoreError);
        expect((err as RunStoreError).code, cursor).toBe('invalid_input');
        expect((err as RunStoreError).details, cursor).toEqual({ field: 'cursor' });
      }
    }
  });

  it('refuses the review cursors of both kinds', async () => {
    for (const n of [1e20, -1e20, 8.64e15, 9e15]) {
      await expect(
        store.listRuns(ws, { cursor: b64(['r', n, randomUUID()]) }),
      ).rejects.toMatchObject({ code: 'invalid_input', details: { field: 'cursor' } });
    }
    await expect(
      store.getResults(ws, runId, { cursor: b64(['s', 3_000_000_000, '1']) }),
    ).rejects.toMatchObject({ code: 'invalid_input', details: { field: 'cursor' } });
  });

  it('still pages with the cursors it hands out', async () => {
    const first = await store.listRuns(ws, { limit: 1 });
    expect(first.runs).toHaveLength(1);
    const edge = await store.listRuns(ws, { cursor: b64(['r', 253_402_300_799_999, runId]) });
    expect(edge.runs.map((r) => r.id)).toEqual([runId]);
    const results = await store.getResults(ws, runId, {
      cursor: b64(['s', 2_147_483_647, '9223372036854775807']),
    });
    expect(results?.results).toEqual([]);
  });
});
