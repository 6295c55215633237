/** The op log or a checkpoint cannot be used safely (incompatible, corrupt, torn, unwritable). */
export class OpLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpLogError";
  }
}
