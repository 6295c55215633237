// Errors travel as gRPC statuses whose message starts with an errno name, so
// the CLI, client-core and the FUSE adapter all map them to POSIX the same way.
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

export type Errno =
  | "ENOENT" | "EEXIST" | "ENOTDIR" | "EISDIR" | "ENOTEMPTY" | "EACCES" | "EPERM"
  | "ENOSPC" | "EINVAL" | "ENAMETOOLONG" | "EIO" | "EFBIG" | "EAGAIN" | "ESTALE"
  | "EROFS"
  // Issue 19: links, special files and extended attributes.
  | "EMLINK" | "ENODATA" | "ERANGE" | "E2BIG" | "ENOSYS" | "EOPNOTSUPP"
  // Issue 20: a directory quota's hard limit (or its soft limit after the grace period).
  | "EDQUOT"
  // Not POSIX: a shadow master (issue 16) refuses a mutation. The client library tries the active master
  // instead (its address, when the shadow knows it, is in the message: see activeMasterHint); the kernel
  // would see EIO if it ever got this far.
  | "ENOTACTIVE";

const grpcCodeOfErrno: Record<Errno, GrpcStatus> = {
  ENOENT: GrpcStatus.NOT_FOUND,
  EEXIST: GrpcStatus.ALREADY_EXISTS,
  ENOTDIR: GrpcStatus.FAILED_PRECONDITION,
  EISDIR: GrpcStatus.FAILED_PRECONDITION,
  ENOTEMPTY: GrpcStatus.FAILED_PRECONDITION,
  EACCES: GrpcStatus.PERMISSION_DENIED,
  EPERM: GrpcStatus.PERMISSION_DENIED,
  ENOSPC: GrpcStatus.RESOURCE_EXHAUSTED,
  EINVAL: GrpcStatus.INVALID_ARGUMENT,
  ENAMETOOLONG: GrpcStatus.INVALID_ARGUMENT,
  EIO: GrpcStatus.INTERNAL,
  EFBIG: GrpcStatus.OUT_OF_RANGE,
  EAGAIN: GrpcStatus.UNAVAILABLE,
  ESTALE: GrpcStatus.FAILED_PRECONDITION,
  // The master is in safe mode (read-only until an operator confirms): not transient, no retry.
  EROFS: GrpcStatus.FAILED_PRECONDITION,
  // Not transient at this master, but another one takes the call: the client moves on, it does not retry here.
  ENOTACTIVE: GrpcStatus.FAILED_PRECONDITION,
  EMLINK: GrpcStatus.RESOURCE_EXHAUSTED,
  // No such attribute: as ENOENT, an answer about the data, not a failure of the call.
  ENODATA: GrpcStatus.NOT_FOUND,
  ERANGE: GrpcStatus.OUT_OF_RANGE,
  E2BIG: GrpcStatus.OUT_OF_RANGE,
  ENOSYS: GrpcStatus.UNIMPLEMENTED,
  EOPNOTSUPP: GrpcStatus.UNIMPLEMENTED,
  EDQUOT: GrpcStatus.RESOURCE_EXHAUSTED,
};

/** An error with a POSIX meaning. `message` is for humans and names the object. */
export class GfsError extends Error {
  constructor(readonly errno: Errno, message: string, readonly grpcCode: GrpcStatus = grpcCodeOfErrno[errno]) {
    super(`${errno}: ${message}`);
    this.name = "GfsError";
  }
}

export const isErrno = (e: unknown, errno: Errno): boolean => e instanceof GfsError && e.errno === errno;

/**
 * Errors of the local file system that mean the same to the application
 * wherever they happened (a chunkserver's full disk is the writer's ENOSPC),
 * by the `code` Node gives its system errors. Anything else from the system
 * stays an I/O error.
 */
const keptSystemErrors: Record<string, Errno> = { ENOSPC: "ENOSPC", EDQUOT: "ENOSPC", EFBIG: "EFBIG" };

/** The GfsError for a Node system error whose errno the application must see (ENOSPC...); undefined for anything else. */
export function fromSystemError(e: unknown): GfsError | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !(code in keptSystemErrors)) return undefined;
  const message = e instanceof Error ? e.message : String(e);
  return new GfsError(keptSystemErrors[code]!, message.replace(/^E[A-Z]+: /, ""));
}

/** What a human reads for an errno (as strerror(3) says it), e.g. "No space left on device". */
export function describeErrno(errno: Errno): string {
  return errnoDescriptions[errno];
}

const errnoDescriptions: Record<Errno, string> = {
  ENOENT: "No such file or directory", EEXIST: "File exists", ENOTDIR: "Not a directory", EISDIR: "Is a directory",
  ENOTEMPTY: "Directory not empty", EACCES: "Permission denied", EPERM: "Operation not permitted",
  ENOSPC: "No space left on device", EINVAL: "Invalid argument", ENAMETOOLONG: "File name too long",
  EIO: "Input/output error", EFBIG: "File too large", EAGAIN: "Resource temporarily unavailable", ESTALE: "Stale file handle",
  EROFS: "Read-only file system", ENOTACTIVE: "Not the active master",
  EMLINK: "Too many links", ENODATA: "No data available", ERANGE: "Numerical result out of range",
  E2BIG: "Argument list too long", ENOSYS: "Function not implemented", EOPNOTSUPP: "Operation not supported",
  EDQUOT: "Disk quota exceeded",
};

/**
 * The refusal of a shadow master: ENOTACTIVE, naming the active master's
 * address when it knows one ("[active HOST:PORT]" at the end of the message).
 */
export function notActiveError(what: string, activeAddress: string | undefined): GfsError {
  return new GfsError("ENOTACTIVE", `${what}: this master is not the active master${activeAddress ? ` [active ${activeAddress}]` : " (no active master known)"}`);
}

/** The active master's address an ENOTACTIVE refusal names, if any. */
export function activeMasterHint(e: unknown): string | undefined {
  if (!(e instanceof GfsError) || e.errno !== "ENOTACTIVE") return undefined;
  return /\[active (\S+)\]$/.exec(e.message)?.[1];
}

/** What a gRPC handler sends back for `e`. Unknown errors become INTERNAL with their message. */
export function toServiceError(e: unknown): Partial<ServiceError> {
  const known = e instanceof GfsError ? e : fromSystemError(e);
  if (known) return { code: known.grpcCode, details: known.message, message: known.message };
  const message = e instanceof Error ? e.message : String(e);
  return { code: GrpcStatus.INTERNAL, details: `EIO: ${message}`, message: `EIO: ${message}` };
}

const errnoPattern = /^(E[A-Z0-9]+): /;

/** The GfsError a caller sees for a failed call; transport failures are EIO. */
export function fromServiceError(e: unknown): GfsError {
  if (e instanceof GfsError) return e;
  const system = fromSystemError(e);
  if (system) return system;
  const err = e as Partial<ServiceError>;
  const details = err.details ?? err.message ?? String(e);
  const m = errnoPattern.exec(details);
  if (m && m[1] in grpcCodeOfErrno) {
    return new GfsError(m[1] as Errno, details.slice(m[0].length), err.code ?? grpcCodeOfErrno[m[1] as Errno]);
  }
  return new GfsError("EIO", details, err.code ?? GrpcStatus.INTERNAL);
}

/** A failure of the transport or the server's availability: worth a retry elsewhere or later. */
export function isTransient(e: unknown): boolean {
  const code = e instanceof GfsError ? e.grpcCode : (e as Partial<ServiceError>).code;
  return code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED || code === GrpcStatus.CANCELLED
    || code === GrpcStatus.ABORTED || code === GrpcStatus.INTERNAL || code === GrpcStatus.UNKNOWN;
}
