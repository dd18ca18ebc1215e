/** Raised when a queue message body is not a valid message of the expected kind. */
export class MessageParseError extends Error {
  override readonly name = 'MessageParseError';
  constructor(
    readonly kind: string,
    /** One line per problem, e.g. `imageId must be a UUID`. */
    readonly problems: string[],
  ) {
    super(`invalid ${kind} message: ${problems.join('; ')}`);
  }
}
