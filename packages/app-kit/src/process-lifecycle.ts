import type { Logger } from 'pino';
import { ConfigError } from './config-error.js';

/** The signals an orchestrator (or a terminal) sends to stop a process. */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

/**
 * On the first SIGTERM/SIGINT runs `shutdown` and exits 0 when it resolves, 1 (logged) when
 * it rejects. A second signal exits 1 at once: an operator pressing Ctrl-C twice means it.
 */
export function exitOnSignals(
  logger: Logger,
  shutdown: (signal: ShutdownSignal) => Promise<void>,
): void {
  let signals = 0;
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      shutdown(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

/**
 * Runs an app's `main`; a failure to start is printed with its stack and exits 1. A
 * {@link ConfigError} found only while starting (a configuration the parts refuse) is a usage
 * error like one found by the loader: its one line, exit 2.
 */
export function runMain(app: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `x ${app} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
