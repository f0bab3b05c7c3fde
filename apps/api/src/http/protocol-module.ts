import { LIVE_STATUSES, RUN_EVENT_TYPES, RUN_STATUSES, TERMINAL_STATUSES } from '@x/protocol';

/**
 * The lists of @x/protocol the dashboard reads, as a browser module (`/protocol.js`): the
 * page has no build step, and this keeps it from carrying its own copy of the statuses and
 * event types.
 */
export function protocolModule(): Buffer {
  const lists = { RUN_STATUSES, LIVE_STATUSES, TERMINAL_STATUSES, RUN_EVENT_TYPES };
  const body = Object.entries(lists)
    .map(([name, list]) => `export const ${name} = Object.freeze(${JSON.stringify(list)});`)
    .join('\n');
  return Buffer.from(`// Generated from @x/protocol by the api.\n${body}\n`);
}
