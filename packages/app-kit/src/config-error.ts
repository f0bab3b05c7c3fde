/** Why a configuration was refused. */
export const CONFIG_ERROR_CODES = ['invalid', 'missing'] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

/**
 * A bad or missing environment variable. `message` is one line that names the variable
 * and never contains a secret: main prints it and exits with code 2.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  /** The variable at fault (the first one when several are). */
  readonly variable: string;

  constructor(code: ConfigErrorCode, variable: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.variable = variable;
  }
}
