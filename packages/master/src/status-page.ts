// The master's web status page (issue 17): one HTML document, no dependencies.
// The server renders it whole (it reads fine without JavaScript), and a few
// lines of inline script fetch /status.json every status_page_refresh_ms and
// render it again with the very same function: renderStatus is sent to the
// browser as its own source text, so the page cannot show something the
// server-side rendering would not. Every string from the cluster is escaped.
// Read-only and unauthenticated, like the rest of the HTTP port.
import { defaults, sendText, statusJson, statusObject, type HttpRoute, type StatusResponse__Output } from "@gfs/common";
import type { MasterState } from "./master-state";

/**
 * The page's body from a status object (as /status.json serves it) and the time to
 * show. Self-contained on purpose (no imports, no outer names, nothing TypeScript
 * would compile into helpers): its source runs in the browser too.
 */
export function renderStatus(s: StatusResponse__Output, nowMs: number): string {
  const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const bytes = (n: number): string => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  };
  const pct = (part: number, whole: number): string => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : "-");
  const ago = (ms: number): string => (ms < 60_000 ? `${(ms / 1000).toFixed(1)} s ago` : `${Math.round(ms / 60_000)} min ago`);
  const time = (ms: number): string => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const roles: Record<string, string> = { MASTER_ROLE_ACTIVE: "active", MASTER_ROLE_SHADOW: "shadow", MASTER_ROLE_SINGLE: "single" };
  const table = (head: string[], rows: string[], cls: string): string => `<table class="${cls}"><thead><tr>`
    + head.map((h) => `<th>${esc(h)}</th>`).join("") + "</tr></thead><tbody>"
    + (rows.length ? rows.join("") : `<tr><td colspan="${head.length}" class="none">none</td></tr>`)
    + "</tbody></table>";
  const card = (label: string, value: string, note = "", cls = ""): string =>
    `<div class="card ${cls}"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div>`
    + `<div class="note">${esc(note)}</div></div>`;

  const alive = s.chunkservers.filter((c) => c.alive).length;
  // Issue 18: a server that left (SIGTERM) is not a failure; an older master names no state. The same rule as
  // common's chunkserverDead (gfs status's exit status), written out: this function runs in the browser as its
  // own source text, where no import exists.
  const dead = s.chunkservers.filter((c) => (c.state ? c.state === "dead" : !c.alive)).length;
  // Red for a failure only: a server that left, drains or retired is shown plainly (its state says which).
  const stateClass = (c: { state?: string; alive: boolean }): string => (c.alive ? "alive" : (c.state ? c.state === "dead" : true) ? "dead" : "other");
  const st = s.chunkStates ?? { healthy: 0, underReplicated: 0, stale: 0, corrupt: 0, missing: 0, suspect: 0 };
  const unhealthy = s.chunkCount - st.healthy;
  const stateNote = [["under-replicated", st.underReplicated], ["stale", st.stale], ["corrupt", st.corrupt],
    ["missing", st.missing], ["suspect", st.suspect]].filter(([, n]) => Number(n) > 0).map(([k, n]) => `${n} ${k}`).join(", ");
  const self = s.masters[0];
  let out = `<p class="updated">${self ? `master ${esc(self.id)} (${esc(roles[self.role] ?? self.role)}, epoch ${esc(self.epoch)})` : "single master"} · `
    + `updated ${esc(time(nowMs))}</p>`;
  if (s.safeMode) {
    out += `<div class="banner error"><strong>Safe mode:</strong> the master deletes nothing and refuses every mutation until an operator `
      + `runs <code>gfs gc --confirm</code>.<ul>${s.safeModeReasons.map((r) => `<li>${esc(r.why)}</li>`).join("")}</ul></div>`;
  }
  out += `<section class="cards">`
    + card("Chunkservers", `${alive} / ${s.chunkservers.length} alive`, dead > 0 ? `${dead} dead` : alive < s.chunkservers.length ? "none dead (the others left)" : "all alive",
      dead > 0 ? "bad" : "good")
    + card("Capacity", bytes(s.capacityBytes), "of live chunkservers")
    + card("Used", bytes(s.usedBytes), `${pct(s.usedBytes, s.capacityBytes)} of capacity`)
    + card("Files", String(s.fileCount), `chunk size ${bytes(s.chunkSizeBytes)}, replication ${s.replication}`)
    + card("Chunks", String(s.chunkCount), unhealthy ? `${st.healthy} healthy; ${stateNote}` : "all healthy", unhealthy ? "bad" : "good")
    + card("Re-replication backlog", `${s.underReplicatedChunks} ${s.underReplicatedChunks === 1 ? "chunk" : "chunks"}`, `${s.replicationCopiesInFlight} ${s.replicationCopiesInFlight === 1 ? "copy" : "copies"} under way`, s.underReplicatedChunks ? "warn" : "")
    + card("Safe mode", s.safeMode ? "ON" : "off", s.safeMode ? "mutations refused" : "garbage collection running", s.safeMode ? "bad" : "")
    // Issue 20, trash lane: what the trash holds (its chunks stay on the chunkservers: in "Used" until reclaimed).
    + card("Trash", bytes(s.trashBytes ?? 0), `${s.trashEntries ?? 0} ${s.trashEntries === 1 ? "entry" : "entries"}, in Used until reclaimed`)
    + `</section>`;
  out += `<h2>Chunkservers</h2>` + table(["ID", "Address", "Rack", "Capacity", "Used", "Chunks", "State", "Last heartbeat"],
    s.chunkservers.map((c) => `<tr data-server-id="${esc(c.serverId)}" data-address="${esc(c.address)}" class="${stateClass(c)}" data-state="${esc(c.state || (c.alive ? "alive" : "dead"))}">`
      + `<td class="mono" title="${esc(c.serverId)}">${esc(c.serverId.slice(0, 8))}</td><td class="mono">${esc(c.address)}</td>`
      + `<td>${esc(c.rack || "-")}</td><td class="num">${esc(bytes(c.capacityBytes))}</td>`
      + `<td class="num">${esc(bytes(c.usedBytes))} <span class="dim">${esc(pct(c.usedBytes, c.capacityBytes))}</span></td>`
      + `<td class="num">${esc(c.chunkCount)}</td><td><span class="state ${stateClass(c)}">${esc(c.state || (c.alive ? "alive" : "dead"))}</span></td>`
      + `<td class="num">${esc(ago(c.lastHeartbeatAgeMs))}</td></tr>`), "servers");
  if (s.masters.length) {
    out += `<h2>Masters</h2>` + table(["ID", "Address", "Role", "Epoch", "Log", "Applied", "Lag", "In sync"],
      s.masters.map((m) => `<tr data-master-id="${esc(m.id)}">`
        + `<td class="mono">${esc(m.id)}</td><td class="mono">${esc(m.address)}</td>`
        + (m.reachable
          ? `<td><span class="role ${esc(roles[m.role] ?? "")}">${esc(roles[m.role] ?? m.role)}</span></td><td class="num">${esc(m.epoch)}</td>`
            + `<td class="num">${esc(m.lastSeq)}</td><td class="num">${esc(m.appliedSeq)}</td>`
            + `<td>${m.role === "MASTER_ROLE_SHADOW" ? esc(`${m.lagRecords} records${m.lagMs ? `, ${(m.lagMs / 1000).toFixed(1)} s` : ""}`) : "-"}</td>`
            + `<td>${m.role === "MASTER_ROLE_ACTIVE" ? "-" : m.inSync ? "yes" : "no"}</td>`
          : `<td><span class="state dead">unreachable</span></td><td colspan="5"></td>`)
        + `</tr>`), "masters");
  }
  // Issue 20, quota lane: the directory quotas, when there are any (logical bytes and entries; "-": no such limit).
  const quotas = s.quotas ?? [];
  if (quotas.length) {
    const lim = (n: number): string => (Number(n) > 0 ? String(n) : "-");
    // Each kind over its soft limit has its own grace clock (a master without them: the one grace end).
    const grace = (kind: string, ends: number): string => (ends > nowMs ? `${kind}grace until ${time(ends)}` : `${kind}grace over`);
    const qState = (q: (typeof quotas)[number]): string => {
      if (q.overHard) return "over hard";
      if (!q.overSoft) return "ok";
      const kinds = [grace("bytes ", Number(q.bytesGraceEndsMs || 0)), grace("entries ", Number(q.entriesGraceEndsMs || 0))]
        .filter((_, i) => Number(i === 0 ? q.bytesGraceEndsMs || 0 : q.entriesGraceEndsMs || 0) > 0);
      return "over soft, " + (kinds.length ? kinds.join(", ") : grace("", Number(q.graceEndsMs)));
    };
    out += `<h2>Quotas</h2>` + table(["Directory", "Bytes", "Soft", "Hard", "Entries", "Soft", "Hard", "State"],
      quotas.map((q) => `<tr data-quota-path="${esc(q.path)}" class="${q.overHard ? "dead" : q.overSoft ? "other" : "alive"}">`
        + `<td class="mono">${esc(q.path)}</td><td class="num" title="${esc(q.bytesUsed)} bytes">${esc(bytes(Number(q.bytesUsed)))}</td>`
        + `<td class="num">${esc(q.limits && Number(q.limits.bytesSoft) > 0 ? bytes(Number(q.limits.bytesSoft)) : "-")}</td>`
        + `<td class="num">${esc(q.limits && Number(q.limits.bytesHard) > 0 ? bytes(Number(q.limits.bytesHard)) : "-")}</td>`
        + `<td class="num">${esc(q.entriesUsed)}</td><td class="num">${esc(lim(q.limits ? q.limits.entriesSoft : 0))}</td>`
        + `<td class="num">${esc(lim(q.limits ? q.limits.entriesHard : 0))}</td><td>${esc(qState(q))}</td></tr>`), "quotas");
  }
  out += `<h2>Recent events</h2>`;
  out += s.events.length
    ? `<ol class="events">${s.events.map((e) => `<li class="${esc(e.level)}" data-kind="${esc(e.kind)}"><time>${esc(time(e.atMs))}</time>`
      + `<span class="msg">${esc(e.message)}</span></li>`).join("")}</ol>`
    : `<p class="none">nothing yet</p>`;
  return out;
}

const css = `
  :root { --fg: #1d2330; --dim: #6b7385; --line: #e3e6ec; --bg: #f6f7f9; --good: #1b7f3b; --bad: #c0262d; --warn: #a86400; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { background: #1d2330; color: #fff; padding: 12px 24px; display: flex; align-items: baseline; gap: 16px; }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  header #conn { font-size: 12px; color: #aab2c5; }
  header #conn.lost { color: #ff8a8f; }
  main { padding: 8px 24px 32px; max-width: 1200px; }
  h2 { font-size: 15px; margin: 24px 0 8px; }
  .updated { color: var(--dim); font-size: 12px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; border-top: 3px solid var(--line); }
  .card.good { border-top-color: var(--good); } .card.bad { border-top-color: var(--bad); } .card.warn { border-top-color: var(--warn); }
  .card .label { color: var(--dim); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { font-size: 20px; font-weight: 600; margin: 2px 0; }
  .card .note { color: var(--dim); font-size: 12px; }
  table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { font-size: 12px; color: var(--dim); font-weight: 600; background: #fafbfc; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.none, p.none { color: var(--dim); }
  tr.dead td { background: #fff3f3; }
  .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 13px; }
  .dim { color: var(--dim); }
  .state, .role { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
  .state.alive { background: #e3f4e8; color: var(--good); } .state.dead { background: #fbe1e2; color: var(--bad); }
  .role.active { background: #e2ecfb; color: #1f55b3; } .role.shadow, .role.single { background: #eceef2; color: var(--fg); }
  .banner.error { background: #fbe1e2; border: 1px solid #f1b5b8; color: #7a1116; padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
  .events { list-style: none; padding: 0; margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
  .events li { padding: 6px 10px; border-bottom: 1px solid var(--line); border-left: 3px solid transparent; }
  .events li.warn { border-left-color: var(--warn); } .events li.error { border-left-color: var(--bad); }
  .events time { color: var(--dim); font-size: 12px; margin-right: 12px; font-variant-numeric: tabular-nums; }
`;

// The renderer as the browser gets it. Cluster data never goes into the script (the HTML carries
// it, escaped), and the renderer's own text must not end the script element early.
const rendererSource = renderStatus.toString();
if (/<\/script/i.test(rendererSource)) throw new Error("invariant: the status renderer's source contains </script");

/** The whole page, rendered now, with the script that renders it again from /status.json. */
export function statusPage(s: StatusResponse__Output, nowMs: number, refreshMs: number = defaults.status_page_refresh_ms): string {
  // The script fetches and re-renders; on a failed fetch it keeps the last view and says the master is not answering.
  const script = `const renderStatus = ${rendererSource};
const conn = document.getElementById("conn");
async function refresh() {
  try {
    const r = await fetch("status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const s = await r.json();
    document.getElementById("content").innerHTML = renderStatus(s, Date.now());
    conn.textContent = "live, every ${refreshMs / 1000} s"; conn.className = "";
  } catch (e) {
    conn.textContent = "master not answering (" + e.message + "); showing the last view"; conn.className = "lost";
  }
}
setInterval(refresh, ${refreshMs});`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>GFS cluster status</title><style>${css}</style></head>
<body><header><h1>GFS cluster status</h1><span id="conn">live, every ${refreshMs / 1000} s</span></header>
<main id="content">${renderStatus(s, nowMs)}</main>
<script>${script}</script>
</body></html>
`;
}

/**
 * "/" and "/status.json" on the master's HTTP port, from the state of whichever role
 * is current (none while the master recovers: 503, saying so). The status is taken
 * as the Status RPC takes it (after what is pending is durable) and goes through
 * statusJson, as `gfs status --json` does.
 */
export function statusRoutes(current: () => MasterState | undefined): Record<string, HttpRoute> {
  // status() walks every chunk and inode: however many tabs poll, the master builds it at most once per
  // status_page_cache_ms and every request in between gets that copy.
  let cached: { state: MasterState; atMs: number; value: Promise<StatusResponse__Output> } | undefined;
  const status = async (): Promise<StatusResponse__Output | undefined> => {
    const state = current();
    if (!state) return undefined;
    const nowMs = Date.now();
    if (!cached || cached.state !== state || nowMs - cached.atMs >= defaults.status_page_cache_ms) {
      cached = { state, atMs: nowMs, value: state.visible(() => state.status()).then(statusObject) };
      cached.value.catch(() => { cached = undefined; });
    }
    return cached.value;
  };
  const starting = "the master is starting: recovering its metadata\n";
  return {
    "/status.json": async (_req, res) => {
      const s = await status();
      if (!s) return sendText(res, 503, starting);
      sendText(res, 200, statusJson(s), "application/json; charset=utf-8");
    },
    "/": async (_req, res) => {
      const s = await status();
      if (!s) return sendText(res, 503, starting);
      sendText(res, 200, statusPage(s, Date.now()), "text/html; charset=utf-8");
    },
  };
}
