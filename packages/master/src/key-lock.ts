// Serializes async work per key (a chunk handle, a file slot): a handler that
// awaits chunkservers must not race another one deciding about the same key,
// or two leases or two allocations could be made for one chunk.
export class KeyLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn, fn);
    const tail = result.then(() => {}, () => {});
    this.tails.set(key, tail);
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return result;
  }

  get heldKeys(): number {
    return this.tails.size;
  }
}
