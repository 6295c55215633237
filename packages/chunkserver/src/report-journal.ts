// What changed on this chunkserver since the last heartbeat the master
// acknowledged: chunks added (created, re-versioned, replicated), removed and
// found corrupt. A failed heartbeat puts its news back to be sent again.
// With several masters (issue 16) each keeps its own view of the news: a
// shadow learns chunk locations as the active does (it serves reads, and may
// become active), and one master's failed heartbeat does not hold up another's.
export interface ChunkNews {
  added: string[];
  removed: string[];
  corrupt: string[];
}

class News {
  added = new Set<string>();
  removed = new Set<string>();
  corrupt = new Set<string>();
}

export class ReportJournal {
  /** By master ("" for the only one). */
  private readonly views = new Map<string, News>();

  /** `masters`: the keys the master links report under ("" alone with a single master). */
  constructor(masters: readonly string[] = [""]) {
    for (const m of masters) this.views.set(m, new News());
  }

  private view(master: string): News {
    const v = this.views.get(master);
    if (!v) throw new Error(`invariant: no report journal for master '${master}'`);
    return v;
  }

  noteAdded(handle: string): void {
    for (const v of this.views.values()) {
      v.removed.delete(handle);
      v.added.add(handle);
    }
  }

  noteRemoved(handle: string): void {
    for (const v of this.views.values()) {
      v.added.delete(handle);
      v.corrupt.delete(handle);
      v.removed.add(handle);
    }
  }

  noteCorrupt(handle: string): void {
    for (const v of this.views.values()) v.corrupt.add(handle);
  }

  /** Takes the news for one heartbeat to `master`. */
  take(master = ""): ChunkNews {
    const v = this.view(master);
    const news = { added: [...v.added], removed: [...v.removed], corrupt: [...v.corrupt] };
    v.added.clear();
    v.removed.clear();
    v.corrupt.clear();
    return news;
  }

  /** The heartbeat to `master` carrying `news` failed: send it again, unless newer news replaced it. */
  putBack(news: ChunkNews, master = ""): void {
    const v = this.view(master);
    for (const h of news.added) if (!v.removed.has(h)) v.added.add(h);
    for (const h of news.removed) if (!v.added.has(h)) v.removed.add(h);
    for (const h of news.corrupt) if (!v.removed.has(h)) v.corrupt.add(h);
  }

  /** A registration with `master` reports everything anyway. */
  clear(master = ""): void {
    this.take(master);
  }
}
