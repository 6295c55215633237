// Errors travel as gRPC statuses whose message starts with an errno name, so
// the CLI, client-core and the FUSE adapter all map them to POSIX the same way.
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

export type Errno =
  | "ENOENT" | "EEXIST" | "ENOTDIR" | "EISDIR" | "ENOTEMPTY" | "EACCES" | "EPERM"
  | "ENOSPC" | "EINVAL" | "ENAMETOOLONG" | "EIO" | "EFBIG" | "EAGAIN" | "ESTALE"
  | "EROFS";

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
};

/** An error with a POSIX meaning. `message` is for humans and names the object. */
export class GfsError extends Error {
  constructor(readonly errno: Errno, message: string, readonly grpcCode: GrpcStatus = grpcCodeOfErrno[errno]) {
    super(`${errno}: ${message}`);
    this.name = "GfsError";
  }
}

export const isErrno = (e: unknown, errno: Errno): boolean => e instanceof GfsError && e.errno === errno;

/** What a gRPC handler sends back for `e`. Unknown errors become INTERNAL with their message. */
export function toServiceError(e: unknown): Partial<ServiceError> {
  if (e instanceof GfsError) return { code: e.grpcCode, details: e.message, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { code: GrpcStatus.INTERNAL, details: `EIO: ${message}`, message: `EIO: ${message}` };
}

const errnoPattern = /^(E[A-Z]+): /;

/** The GfsError a caller sees for a failed call; transport failures are EIO. */
export function fromServiceError(e: unknown): GfsError {
  if (e instanceof GfsError) return e;
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
