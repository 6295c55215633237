// Role authorization of gRPC services, from one table per service (method ->
// roles allowed to call it; master/src/rpc-roles.ts, chunkserver/src/rpc-roles.ts).
// Every handler is wrapped before the server sees it, so no method can be
// added without saying who may call it (the table's type requires an entry
// per method, and guardHandlers checks it again at start-up).
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context";
import { toServiceError } from "./errors";
import { declareRpc, rpcCounted, rpcStarted } from "./metrics";
import { peerOf, requireRole, type Peer, type Role } from "./peer";

/** method name -> roles that may call it (an insecure peer, on a plaintext server, may call anything). */
export type RoleTable<H> = { readonly [M in keyof H]-?: readonly Role[] };

type AnyHandler = (call: { getAuthContext(): AuthContext; emit(event: string, ...args: unknown[]): boolean }, callback?: (e: unknown) => void) => unknown;

/** The caller, if it may call `service`.`method` by `table`; throws EACCES otherwise. */
export function authorizeCall(service: string, method: string, allowed: readonly Role[], call: { getAuthContext(): AuthContext }): Peer {
  const peer = peerOf(call);
  requireRole(peer, `${service}.${method}`, ...allowed);
  return peer;
}

/**
 * `handlers`, each refusing (PERMISSION_DENIED, EACCES) callers whose certificate's role `table` does not list for it,
 * and each counted and timed (gfs_rpc_*, metrics.ts; refusals included): every call, unary or on a call stream, passes here.
 */
export function guardHandlers<H extends object>(service: string, handlers: H, table: RoleTable<H>): H {
  const out: Record<string, AnyHandler> = {};
  for (const [method, handler] of Object.entries(handlers) as Array<[string, AnyHandler]>) {
    const allowed = (table as Record<string, readonly Role[] | undefined>)[method];
    if (!allowed) throw new Error(`${service}.${method} has no entry in its role table`);
    declareRpc(method);
    out[method] = (call, callback) => {
      // Calls answering through a callback (unary, client streams) are timed to the answer; streams only counted.
      if (callback) {
        const answered = rpcStarted(method);
        const inner = callback;
        callback = (e: unknown, ...rest: unknown[]) => {
          answered(e);
          (inner as (...a: unknown[]) => void)(e, ...rest);
        };
      } else rpcCounted(method);
      try {
        authorizeCall(service, method, allowed, call);
      } catch (e) {
        // Unary and client-streaming calls answer through the callback; server-streaming ones through the call.
        if (callback) callback(toServiceError(e));
        else call.emit("error", toServiceError(e));
        return;
      }
      return handler(call, callback);
    };
  }
  return out as H;
}
