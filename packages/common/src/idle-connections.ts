// Connections a process keeps open to one server between requests, for reuse:
// at most `max`, and unref'd while idle, so an idle connection never keeps a
// finished process alive. A connection idle for half the server's idle
// timeout (data_idle_timeout_ms) is not reused: the server may be closing it.
import type { Socket } from "node:net";
import { defaults } from "./config";

export interface ReusableConnection {
  readonly socket: Socket;
  /** Open, and nothing left unread from the last request. */
  readonly usable: boolean;
  close(): void;
}

export class IdleConnections<C extends ReusableConnection> {
  private readonly idle: C[] = [];
  /** When each idle connection was put back. */
  private readonly since = new WeakMap<C, number>();
  private closed = false;

  constructor(private readonly max: number, private readonly idleMsMax: number = defaults.data_idle_timeout_ms / 2,
    private readonly now: () => number = Date.now) {}

  /** A usable idle connection (unusable ones found on the way are closed), or undefined. */
  take(): C | undefined {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.usable && this.now() - (this.since.get(c) ?? 0) < this.idleMsMax) {
        c.socket.ref();
        return c;
      }
      c.close();
    }
    return undefined;
  }

  /** Keeps a connection whose request succeeded for the next one, or closes it. */
  put(c: C): void {
    if (!this.closed && c.usable && this.idle.length < this.max) {
      c.socket.unref();
      this.since.set(c, this.now());
      this.idle.push(c);
    } else {
      c.close();
    }
  }

  closeAll(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.close();
  }
}
