import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { z } from 'zod';
import { deadStopJobSchema, stopJobResultSchema, stopJobSchema } from '../src/index.js';

const doc = YAML.parse(readFileSync(new URL('../asyncapi.yaml', import.meta.url), 'utf8'));

/** Keeps what a validator checks; drops prose. `additionalProperties: {}` means true. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (['description', 'examples', 'title', '$schema'].includes(key) || key.startsWith('x-'))
      continue;
    if (
      key === 'additionalProperties' &&
      inner &&
      typeof inner === 'object' &&
      !Object.keys(inner).length
    ) {
      out[key] = true;
      continue;
    }
    out[key] = normalize(inner);
  }
  return out;
}

function resolveRef(ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], doc);
}

function payloadOf(channel: string, message: string): unknown {
  const ref = doc.channels[channel].messages[message].$ref as string;
  const payload = (resolveRef(ref) as { payload: { $ref: string } }).payload;
  return resolveRef(payload.$ref);
}

const cases = [
  ['stopJobs', 'StopJob', '{prefix}:runs:stop_jobs', stopJobSchema],
  ['jobResults', 'StopJobResult', '{prefix}:runs:job_results', stopJobResultSchema],
  ['deadStopJobs', 'DeadStopJob', '{prefix}:runs:stop_jobs:dead', deadStopJobSchema],
] as const;

describe('asyncapi.yaml', () => {
  it('is an AsyncAPI 3.0 document naming the three streams', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    for (const [channel, , address] of cases) expect(doc.channels[channel].address).toBe(address);
    for (const operation of Object.values(doc.operations) as {
      action: string;
      channel: { $ref: string };
    }[]) {
      expect(['send', 'receive']).toContain(operation.action);
      expect(resolveRef(operation.channel.$ref)).toBeDefined();
    }
  });

  it.each(cases)(
    '%s payload holds exactly the schema the codec validates with',
    (channel, message, _a, schema) => {
      const fromDoc = normalize(payloadOf(channel, message));
      const fromCodec = normalize(z.toJSONSchema(schema));
      expect(fromDoc).toEqual(fromCodec);
    },
  );

  it('the comparison notices a drift in field, required-ness, enum or pattern', () => {
    const fromCodec = normalize(z.toJSONSchema(stopJobSchema)) as {
      properties: Record<string, Record<string, unknown>>;
      required: string[];
    };
    const drifts = [
      (s: typeof fromCodec) => {
        s.required = ['run_id'];
      },
      (s: typeof fromCodec) => {
        s.properties.reason!.enum = ['user_request'];
      },
      (s: typeof fromCodec) => {
        s.properties.requested_at_ms!.pattern = '^[0-9]+$';
      },
      (s: typeof fromCodec) => {
        delete s.properties.requested_by;
      },
    ];
    const fromDoc = normalize(payloadOf('stopJobs', 'StopJob'));
    for (const drift of drifts) {
      const changed = structuredClone(fromCodec);
      drift(changed);
      expect(fromDoc).not.toEqual(changed);
    }
  });
});
