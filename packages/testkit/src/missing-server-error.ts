/** Thrown when a test needs a server that is neither configured nor installed. */
export class MissingServerError extends Error {
  override readonly name = 'MissingServerError';
  constructor(
    readonly server: 'redis' | 'postgres',
    readonly installCommand: string,
    readonly envVar: string,
  ) {
    super(
      `${server} is not available: set ${envVar}, or install the server with \`${installCommand}\``,
    );
  }
}
