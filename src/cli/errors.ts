/**
 * A user error: bad input, a missing file, an invalid config. The CLI prints its message as
 * one line and exits 1. Anything else that escapes a command is a bug: stack, exit 2.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
