/** Thrown when a test needs a server that is neither configured nor installed. */
export class MissingServerError extends Error {
  override readonly name = 'MissingServerError';
  /**
   * @param envVar the variable that points tests at a running server instead; omitted when
   *   the test needs servers of its own (a Redis Cluster the kit can kill nodes of).
   * @param binary the executable that was not found, when it is not simply `server`.
   */
  constructor(
    readonly server: 'redis' | 'postgres',
    readonly installCommand: string,
    readonly envVar?: string,
    readonly binary?: string,
  ) {
    super(
      `${binary ?? server} is not available: ${envVar ? `set ${envVar}, or ` : ''}install the server with \`${installCommand}\``,
    );
  }
}
