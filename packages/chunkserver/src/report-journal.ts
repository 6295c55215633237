// What changed on this chunkserver since the last heartbeat the master
// acknowledged: chunks added (created, re-versioned, replicated), removed and
// found corrupt. A failed heartbeat puts its news back to be sent again.
export interface ChunkNews {
  added: string[];
  removed: string[];
  corrupt: string[];
}

export class ReportJournal {
  private added = new Set<string>();
  private removed = new Set<string>();
  private corrupt = new Set<string>();

  noteAdded(handle: string): void {
    this.removed.delete(handle);
    this.added.add(handle);
  }

  noteRemoved(handle: string): void {
    this.added.delete(handle);
    this.corrupt.delete(handle);
    this.removed.add(handle);
  }

  noteCorrupt(handle: string): void {
    this.corrupt.add(handle);
  }

  /** Takes the news for one heartbeat. */
  take(): ChunkNews {
    const news = { added: [...this.added], removed: [...this.removed], corrupt: [...this.corrupt] };
    this.added.clear();
    this.removed.clear();
    this.corrupt.clear();
    return news;
  }

  /** The heartbeat carrying `news` failed: send it again, unless newer news replaced it. */
  putBack(news: ChunkNews): void {
    for (const h of news.added) if (!this.removed.has(h)) this.added.add(h);
    for (const h of news.removed) if (!this.added.has(h)) this.removed.add(h);
    for (const h of news.corrupt) if (!this.removed.has(h)) this.corrupt.add(h);
  }

  /** A registration reports everything anyway. */
  clear(): void {
    this.take();
  }
}
