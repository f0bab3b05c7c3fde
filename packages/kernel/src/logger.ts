type LogFn = (obj: object, msg?: string) => void;

/**
 * The slice of a pino logger every package writes to: `(context object, message)`.
 * Depend on this, not on pino: any pino-compatible logger fits.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const ignore: LogFn = () => {};

/**
 * Discards everything: the default where no logger is given. Every problem a package logs is
 * also counted in its metrics, so a silent default loses no signal.
 */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
