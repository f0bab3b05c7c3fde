type LogFn = (obj: object, msg?: string) => void;

/** The slice of a pino logger the packages use: `(context object, message)`. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const ignore: LogFn = () => {};

/** A logger that discards everything (the default when none is given). */
export const noopLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
