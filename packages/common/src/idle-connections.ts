// Connections a process keeps open to one server between requests, for reuse:
// at most `max`, and unref'd while idle, so an idle connection never keeps a
// finished process alive.
import type { Socket } from "node:net";

export interface ReusableConnection {
  readonly socket: Socket;
  /** Open, and nothing left unread from the last request. */
  readonly usable: boolean;
  close(): void;
}

export class IdleConnections<C extends ReusableConnection> {
  private readonly idle: C[] = [];
  private closed = false;

  constructor(private readonly max: number) {}

  /** A usable idle connection (unusable ones found on the way are closed), or undefined. */
  take(): C | undefined {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.usable) {
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
