import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeStopJob,
  decodeStopJobResult,
  encodeStopJob,
  encodeStopJobResult,
} from '../src/index.js';

const runId = randomUUID();

function refused(fields: string[] | null) {
  const decoded = decodeStopJob('1-0', fields);
  if (decoded.ok) throw new Error('expected a refusal');
  return decoded;
}

describe('stop job codec', () => {
  it('decodes a full entry into the job the service receives', () => {
    const decoded = decodeStopJob('5-1', [
      'run_id',
      runId,
      'reason',
      'timeout',
      'requested_at_ms',
      '1767225600000',
      'requested_by',
      'ws_1',
    ]);
    expect(decoded).toEqual({
      ok: true,
      job: {
        runId,
        reason: 'timeout',
        requestedAtMs: 1767225600000,
        requestedBy: 'ws_1',
        entryId: '5-1',
      },
    });
  });

  it('treats absent or empty optional fields as unknown and ignores unknown fields', () => {
    const decoded = decodeStopJob('5-1', [
      'run_id',
      runId,
      'reason',
      'shutdown',
      'requested_at_ms',
      '',
      'requested_by',
      '',
      'v2_field',
      'x',
    ]);
    expect(decoded).toMatchObject({ ok: true, job: { requestedAtMs: null, requestedBy: null } });
  });

  it.each([
    ['a missing reason', ['run_id', runId], 'reason'],
    ['a missing run_id', ['reason', 'timeout'], 'run_id'],
    ['an unknown reason', ['run_id', runId, 'reason', 'bored'], 'reason'],
    ['a run_id that is not a UUID', ['run_id', 'run-1', 'reason', 'timeout'], 'run_id'],
    [
      'a non-numeric requested_at_ms',
      ['run_id', runId, 'reason', 'timeout', 'requested_at_ms', '12abc'],
      'requested_at_ms',
    ],
    [
      'a negative requested_at_ms',
      ['run_id', runId, 'reason', 'timeout', 'requested_at_ms', '-5'],
      'requested_at_ms',
    ],
    [
      'an oversized requested_by',
      ['run_id', runId, 'reason', 'timeout', 'requested_by', 'x'.repeat(201)],
      'requested_by',
    ],
    [
      'a field given twice',
      ['run_id', runId, 'reason', 'timeout', 'reason', 'shutdown'],
      "'reason'",
    ],
  ])('refuses %s with a message naming the field', (_label, fields, named) => {
    const decoded = refused(fields);
    expect(decoded.reason).toBe('invalid');
    expect(decoded.detail).toContain(named);
  });

  it('keeps the run id of a refused entry when that field alone is valid', () => {
    expect(refused(['run_id', runId, 'reason', 'bored']).runId).toBe(runId);
    expect(refused(['run_id', 'nope', 'reason', 'bored']).runId).toBe('');
  });

  it('reports an entry deleted from the stream as trimmed', () => {
    expect(refused(null)).toMatchObject({ reason: 'trimmed', runId: '' });
  });

  it('round-trips a job through encodeStopJob and decodeStopJob', () => {
    const fields = encodeStopJob({
      runId,
      reason: 'admin_request',
      requestedAtMs: 42,
      requestedBy: 'ops',
    });
    expect(decodeStopJob('9-9', fields)).toMatchObject({
      ok: true,
      job: { runId, reason: 'admin_request', requestedAtMs: 42, requestedBy: 'ops' },
    });
  });

  it('canonicalizes a run id written in upper case, on every entry it reads or writes', () => {
    const upper = runId.toUpperCase();
    expect(decodeStopJob('1-1', ['run_id', upper, 'reason', 'timeout'])).toMatchObject({
      ok: true,
      job: { runId },
    });
    expect(refused(['run_id', upper, 'reason', 'bored']).runId).toBe(runId);
    expect(encodeStopJob({ runId: upper, reason: 'timeout' })).toEqual([
      'run_id',
      runId,
      'reason',
      'timeout',
    ]);
    const result = decodeStopJobResult([
      'run_id',
      upper,
      'outcome',
      'success',
      'error_code',
      '',
      'error_message',
      '',
      'final_status',
      'aborted',
      'source_entry_id',
      '1-1',
    ]);
    expect(result).toMatchObject({ ok: true, result: { run_id: runId } });
  });

  it('refuses to encode a job outside the contract', () => {
    expect(() => encodeStopJob({ runId: 'x', reason: 'timeout' })).toThrow(/run_id/);
  });

  it('round-trips a result and refuses a malformed one', () => {
    const result = {
      run_id: runId,
      outcome: 'success',
      error_code: 'replay_no_op',
      error_message: '',
      final_status: 'aborted',
      source_entry_id: '1-2',
    } as const;
    expect(decodeStopJobResult(encodeStopJobResult(result))).toEqual({ ok: true, result });
    const bad = decodeStopJobResult(['run_id', runId, 'outcome', 'maybe']);
    expect(bad.ok).toBe(false);
    expect(bad.ok ? '' : bad.detail).toMatch(/outcome/);
  });
});
