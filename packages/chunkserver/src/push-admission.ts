// How many pushes a chunkserver receives at once, and how many bytes they
// announce in all. A push gets its whole buffer when it starts, so without a
// bound a few senders that announce large pushes and stall (or many that
// start at once) hold memory without limit (issue 12, finding 6: eight stalled
// 64 MiB pushes held +548 MB). Past the bound a push is refused at once with
// EAGAIN (the client retries with backoff) instead of being buffered.
import { GfsError } from "@gfs/common";

export class PushAdmission {
  private pushes = 0;
  private bytes = 0;

  constructor(private readonly pushesMax: number, private readonly bytesMax: number) {}

  /** Admits a push of `bytes`; returns the function that ends it (call once). Throws EAGAIN past a bound. */
  admit(bytes: number, what: string): () => void {
    if (this.pushes >= this.pushesMax) {
      throw new GfsError("EAGAIN", `${what} refused: this chunkserver is receiving ${this.pushes} pushes, at most ${this.pushesMax} at once`);
    }
    // One push is always let in when none is running, so a bound below the chunk size cannot refuse everything.
    if (this.pushes > 0 && this.bytes + bytes > this.bytesMax) {
      throw new GfsError("EAGAIN", `${what} refused: ${bytes} more bytes would exceed the ${this.bytesMax} bytes of pushes this chunkserver receives at once (${this.bytes} now)`);
    }
    this.pushes++;
    this.bytes += bytes;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.pushes--;
      this.bytes -= bytes;
    };
  }

  get inFlight(): { pushes: number; bytes: number } {
    return { pushes: this.pushes, bytes: this.bytes };
  }
}
