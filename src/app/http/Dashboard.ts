/**
 * The dashboard served at `GET /` (docs/operations.md, "Dashboard"): one
 * self-contained HTML page — inline CSS and vanilla JavaScript, no build
 * step, no external asset — that reads the API's own JSON endpoints from
 * the browser and refreshes them every 5 seconds:
 *
 * - `/status`: the summary line (scheduler, jobs, pending tasks, dead letters, items);
 * - `/scheduler/sources`: per-source counters (pending, running, done,
 *   failed, retried, lateness) with a Pause / Resume button
 *   (`POST /scheduler/sources/:source/pause|resume`);
 * - `/scheduler/schedules?next=24` (every 30 s): a timeline of each job's
 *   next runs over the next 1, 6 or 24 hours;
 * - `/collectors`: recent failures (each job's last outcome when it is not a success);
 * - `/scheduler/dead-letters?limit=20` (paged with `cursor`): with a Replay
 *   button (`POST /scheduler/dead-letters/:id/replay`);
 * - `/items?limit=50` (paged with `cursor`, filtered by `source`): the
 *   collected items; typing filters those loaded, Search asks the service
 *   (`q`: key or raw JSON text, any case).
 *
 * It never asks for more than one page of a list, so it stays fast with
 * 100k pending tasks. Mutations are empty `POST`s carrying
 * `Authorization: Bearer <token>` when the operator gave the token (a
 * password field, kept in `sessionStorage`); a 401 or 403 is said in the
 * page's live region. The Content-Security-Policy ({@link contentSecurityPolicy})
 * allows the page's own inline script and style by their SHA-256 hashes and
 * requests to the same origin only.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { createHash } from "node:crypto"

const style = `
:root{color-scheme:light dark;font:15px/1.4 system-ui,sans-serif}
body{margin:0 auto;max-width:84rem;padding:0 1rem 2rem}
header{border-bottom:2px solid;margin-bottom:1rem;padding:.5rem 0}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}
dl{display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;margin:.3rem 0}dt{font-weight:600}dd{margin:0}
dl div{display:flex;gap:.4rem}
form{display:flex;flex-wrap:wrap;align-items:center;gap:.4rem;margin:.4rem 0}
table{border-collapse:collapse;width:100%}caption{text-align:left;font-style:italic;padding:.2rem 0}
th,td{border:1px solid #8888;padding:.2rem .45rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.e{max-width:34rem;overflow-wrap:anywhere}
button,input,select{font:inherit}
:focus-visible{outline:3px solid;outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.bar{position:relative;height:1.1rem;min-width:14rem;border:1px solid}
.tick{position:absolute;top:0;bottom:0;width:1px;background:currentColor}
.paused{font-weight:700;text-transform:uppercase}
#msg{min-height:1.4em;font-weight:600}
`.trim()

const script = String.raw`
"use strict";
(() => {
const $ = (id) => document.getElementById(id);
const KEY = "rayinfo.apiToken";
const st = { dl: [null], dlPage: 0, items: [], cursor: null, paged: false, total: null, win: 6, sched: null, schedAt: 0, busy: false };

const token = () => { try { return sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; } };
const auth = () => { const t = token(); return t ? { authorization: "Bearer " + t } : {}; };
const say = (text) => { $("msg").textContent = text; };

function el(tag, props, kids) {
  const e = document.createElement(tag);
  for (const k in props || {}) {
    if (k === "text") e.textContent = props[k]; else e.setAttribute(k, props[k]);
  }
  for (const c of kids || []) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const td = (text, cls) => el("td", cls ? { class: cls, text: String(text) } : { text: String(text) });
const th = (text) => el("th", { scope: "row", text: text });
const btn = (label, target, act, onClick) => {
  const b = el("button", { type: "button", "data-act": act }, [label, el("span", { class: "sr", text: " " + target })]);
  b.addEventListener("click", () => onClick(b));
  return b;
};

function rel(ms) {
  const a = Math.abs(ms) / 1000;
  const t = a < 90 ? Math.round(a) + " s" : a < 5400 ? Math.round(a / 60) + " min" : a < 172800 ? (a / 3600).toFixed(1) + " h" : Math.round(a / 86400) + " d";
  return ms >= 0 ? "in " + t : t + " ago";
}
const dur = (sec) => sec % 3600 === 0 ? sec / 3600 + " h" : sec % 60 === 0 ? sec / 60 + " min" : sec + " s";
function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return el("time", { datetime: iso, title: d.toISOString() }, [d.toLocaleString() + " (" + rel(d - Date.now()) + ")"]);
}

async function getJson(path) {
  const r = await fetch(path, { headers: auth(), cache: "no-store" });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error("HTTP " + r.status + (body && body.message ? ": " + body.message : ""));
  return body;
}

async function post(path, what) {
  say(what + "…");
  try {
    const r = await fetch(path, { method: "POST", headers: auth() });
    if (r.ok) { say(what + ": done."); return true; }
    if (r.status === 401) say(what + ": refused (401 Unauthorized). This service needs its API token: enter it under “API token” and try again.");
    else if (r.status === 403) say(what + ": refused (403 Forbidden): the service does not accept this request from this page.");
    else { const b = await r.json().catch(() => null); say(what + ": failed (HTTP " + r.status + ")" + (b && b.message ? ": " + b.message : ".")); }
  } catch (e) { say(what + ": failed: " + e.message); }
  return false;
}

// Replaces a table body's rows with those of list, keeping a row whose data did not change, and the focus.
function rows(tbody, list, key, build, empty) {
  const old = new Map();
  for (const tr of tbody.children) if (tr.dataset.k !== undefined) old.set(tr.dataset.k, tr);
  const focus = document.activeElement;
  const had = tbody.contains(focus) ? [focus.closest("tr").dataset.k, focus.dataset.act] : null;
  const next = list.map((x) => {
    const k = key(x), sig = JSON.stringify(x), tr = old.get(k);
    if (tr && tr.dataset.sig === sig) return tr;
    const fresh = build(x);
    fresh.dataset.k = k; fresh.dataset.sig = sig;
    return fresh;
  });
  if (next.length === 0) next.push(el("tr", {}, [el("td", { colspan: tbody.parentElement.querySelectorAll("thead th").length, text: empty })]));
  if (next.length === tbody.children.length && next.every((tr, i) => tr === tbody.children[i])) return;
  tbody.replaceChildren(...next);
  if (had && !tbody.contains(focus)) {
    const tr = [...tbody.children].find((r) => r.dataset.k === had[0]);
    const b = tr && (tr.querySelector("[data-act=\"" + had[1] + "\"]") || tr.querySelector("button"));
    if (b) b.focus();
  }
}
const failRow = (tbody, error) => rows(tbody, [], () => "", () => null, "Not available: " + error.message);

async function loadStatus() {
  const s = await getJson("/status");
  const sch = s.scheduler;
  const facts = [
    ["Scheduler", s.scheduler_type + (s.scheduler_running ? " (running)" : " (stopped)")],
    ["Jobs", s.registered_jobs],
    ["Pending tasks", s.pending_tasks],
    ["Running", s.runs.in_flight],
    ["Runs", s.runs.succeeded + " succeeded, " + s.runs.failed + " failed, " + s.runs.retried + " retried"],
    ["Dead letters", sch ? sch.dead_letters : "—"],
    ["Items stored", s.items_total],
    ["Next run", when(s.next_run_at)]
  ];
  $("summary").replaceChildren(...facts.map(([k, v]) => el("div", {}, [el("dt", { text: k }), el("dd", {}, [typeof v === "object" ? v : String(v)])])));
  if (st.total !== null && st.total !== s.items_total && !st.paged) loadItems(false);
  st.total = s.items_total;
}

async function loadSources() {
  const tbody = $("sources").tBodies[0];
  try {
    const { sources } = await getJson("/scheduler/sources");
    // a job that has not run since the start has no counters yet: listed from its schedule, to pause it
    const zero = { pending: 0, in_flight: 0, succeeded: 0, failed: 0, retried: 0, lateness: { mean_ms: 0, max_ms: 0 } };
    const known = new Set(sources.map((x) => x.source));
    for (const sc of st.sched || []) if (!known.has(sc.source)) { known.add(sc.source); sources.push({ source: sc.source, paused: false, stats: zero }); }
    sources.sort((a, b) => a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
    rows(tbody, sources, (x) => x.source, (x) => {
      const s = x.stats, act = x.paused ? "resume" : "pause";
      return el("tr", {}, [
        th(x.source),
        el("td", x.paused ? { class: "paused", text: "paused" } : { text: "active" }),
        td(s.pending, "n"), td(s.in_flight, "n"), td(s.succeeded, "n"), td(s.failed, "n"), td(s.retried, "n"),
        td(Math.round(s.lateness.mean_ms) + " ms", "n"), td(Math.round(s.lateness.max_ms) + " ms", "n"),
        el("td", {}, [btn(x.paused ? "Resume" : "Pause", x.source, act, async () => {
          if (await post("/scheduler/sources/" + encodeURIComponent(x.source) + "/" + act, (x.paused ? "Resume " : "Pause ") + x.source)) await refresh(true);
        })])
      ]);
    }, "No source yet.");
  } catch (e) { failRow(tbody, e); throw e; }
}

async function loadSchedules(force) {
  try { await fetchSchedules(force); } catch (e) { failRow($("timeline").tBodies[0], e); throw e; }
}

async function fetchSchedules(force) {
  if (force || st.sched === null || Date.now() - st.schedAt > 30000 || st.sched.some((s) => Date.parse(s.next_run) < Date.now())) {
    st.sched = (await getJson("/scheduler/schedules?next=24")).schedules;
    st.schedAt = Date.now();
  }
  const now = Date.now(), span = st.win * 3600000;
  const list = st.sched.slice().sort((a, b) => Date.parse(a.next_run) - Date.parse(b.next_run)).slice(0, 100);
  $("timeline-caption").textContent = "Next runs of each schedule over the next " + st.win + " h (the bar goes from now to +" + st.win + " h)" + (st.sched.length > 100 ? "; the 100 soonest of " + st.sched.length : "") + ".";
  rows($("timeline").tBodies[0], list.map((s) => ({ ...s, now: Math.floor(now / 60000), win: st.win })), (s) => s.id, (s) => {
    let runs = s.next_runs.map(Date.parse).filter((t) => t - now <= span), more = runs.length === s.next_runs.length;
    if (s.every_seconds && more) { // a fixed period: the runs beyond the listed ones, exactly
      runs = [];
      for (let t = Date.parse(s.next_run); t - now <= span && runs.length < 500; t += s.every_seconds * 1000) runs.push(t);
      more = runs.length === 500;
    }
    const bar = el("div", { class: "bar", "aria-hidden": "true" });
    for (const t of runs) {
      const tick = el("span", { class: "tick" });
      tick.style.left = Math.max(0, Math.min(99.5, (t - now) / span * 100)) + "%";
      bar.append(tick);
    }
    return el("tr", {}, [
      th(s.id),
      td(s.cron !== null ? "cron " + s.cron + " (" + s.time_zone + ")" : "every " + dur(s.every_seconds)),
      el("td", {}, [when(s.next_run)]),
      td(runs.length + (more ? "+" : ""), "n"),
      el("td", {}, [bar])
    ]);
  }, "No schedule.");
}

async function loadCollectors() {
  let groups;
  try { groups = await getJson("/collectors"); } catch (e) { failRow($("failures").tBodies[0], e); throw e; }
  const all = groups.flatMap((g) => g.instances);
  const failed = all.filter((i) => i.last_outcome && i.last_outcome.outcome !== "succeeded")
    .sort((a, b) => Date.parse(b.last_outcome.at) - Date.parse(a.last_outcome.at)).slice(0, 50);
  rows($("failures").tBodies[0], failed, (i) => i.id, (i) => el("tr", {}, [
    th(i.id), td(i.last_outcome.outcome), el("td", {}, [when(i.last_outcome.at)]), td(i.last_outcome.error || "", "e"),
    td(i.error_count, "n"), el("td", {}, [when(i.retry_at || i.next_run_at)])
  ]), "No recent failure.");
  const sel = $("src"), ids = all.map((i) => i.id);
  if (sel.dataset.ids !== JSON.stringify(ids)) {
    sel.dataset.ids = JSON.stringify(ids);
    const v = sel.value;
    sel.replaceChildren(el("option", { value: "", text: "All sources" }), ...ids.map((id) => el("option", { value: id, text: id })));
    sel.value = ids.includes(v) ? v : "";
  }
}

async function loadDeadLetters() {
  const tbody = $("dead").tBodies[0], cursor = st.dl[st.dlPage];
  try {
    const page = await getJson("/scheduler/dead-letters?limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    st.dl[st.dlPage + 1] = page.next_cursor;
    $("dl-next").hidden = !page.next_cursor;
    $("dl-first").hidden = st.dlPage === 0;
    rows(tbody, page.dead_letters, (d) => d.task.id, (d) => el("tr", {}, [
      th(d.task.id), td(d.task.source), td(d.reason), td(d.attempts, "n"), el("td", {}, [when(d.at)]), td(d.error, "e"),
      el("td", {}, [btn("Replay", d.task.id, "replay", async () => {
        if (await post("/scheduler/dead-letters/" + encodeURIComponent(d.task.id) + "/replay", "Replay " + d.task.id)) await refresh(true);
      })])
    ]), "No dead letters.");
  } catch (e) {
    if (cursor) { st.dlPage = 0; st.dl = [null]; }
    failRow(tbody, e);
    throw e;
  }
}

function showItems() {
  const q = $("q").value.trim().toLowerCase();
  const shown = q ? st.items.filter((i) => JSON.stringify([i.source, i.key, i.raw]).toLowerCase().includes(q)) : st.items;
  $("items-caption").textContent = "Showing " + shown.length + " of the " + st.items.length + " items loaded" + (st.total !== null ? " (" + st.total + " stored)" : "") + ", newest first.";
  rows($("items").tBodies[0], shown.slice(0, 1000), (i) => i.source + "\n" + i.key, (i) => {
    const r = i.raw && typeof i.raw === "object" ? i.raw : {};
    const title = String(r.title || r.name || i.key), link = String(r.link || r.url || "");
    return el("tr", {}, [
      el("td", {}, [when(i.stored_at)]), td(i.source),
      el("th", { scope: "row" }, [/^https?:[/][/]/i.test(link) ? el("a", { href: link, rel: "noopener noreferrer" }, [title]) : title]),
      td(i.key, "e")
    ]);
  }, st.items.length ? "No loaded item matches." : "No item.");
}

async function loadItems(more) {
  const p = new URLSearchParams({ limit: "50" });
  if ($("src").value) p.set("source", $("src").value);
  const q = $("q").value.trim();
  if (q) p.set("q", q.slice(0, 200));
  if (more && st.cursor) p.set("cursor", st.cursor);
  try {
    const page = await getJson("/items?" + p);
    st.items = more ? st.items.concat(page.items) : page.items;
    st.paged = more;
    st.cursor = page.next_cursor;
    $("more").hidden = !st.cursor;
    showItems();
  } catch (e) { say("Loading items failed: " + e.message); }
}

async function refresh(force) {
  if (st.busy && !force) return;
  st.busy = true;
  const sched = loadSchedules(force);
  const done = await Promise.allSettled([sched, loadStatus(), sched.catch(() => {}).then(loadSources), loadCollectors(), loadDeadLetters()]);
  st.busy = false;
  const errors = done.filter((d) => d.status === "rejected").map((d) => d.reason.message);
  $("updated").textContent = (errors.length ? "Some data could not be loaded (" + errors.join("; ") + "). " : "") + "Updated " + new Date().toLocaleTimeString() + "; refreshed every 5 s.";
}

function showAuth() { $("authstate").textContent = token() ? "A token is set for this tab." : "No token set."; }
$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  try { if (t) sessionStorage.setItem(KEY, t); } catch (err) { /* private mode */ }
  $("token").value = "";
  showAuth();
  say(t ? "Token saved for this tab." : "Enter a token first.");
  refresh(true);
});
$("forget").addEventListener("click", () => { try { sessionStorage.removeItem(KEY); } catch (err) { /* none */ } showAuth(); say("Token forgotten."); });
$("win").addEventListener("change", () => { st.win = Number($("win").value); loadSchedules(false).catch(() => {}); });
const none = () => {};
$("dl-next").addEventListener("click", () => { st.dlPage++; loadDeadLetters().catch(none); });
$("dl-first").addEventListener("click", () => { st.dlPage = 0; st.dl = [null]; loadDeadLetters().catch(none); });
$("q").addEventListener("input", showItems);
$("src").addEventListener("change", () => loadItems(false));
$("itemsform").addEventListener("submit", (e) => { e.preventDefault(); loadItems(false); });
$("more").addEventListener("click", () => loadItems(true));
showAuth();
refresh(true).then(() => loadItems(false));
setInterval(() => { if (!document.hidden) refresh(false); }, 5000);
})();
`.trim()

const table = (id: string, caption: string, columns: ReadonlyArray<string>) =>
  `<table id="${id}"><caption${caption === "" ? ` id="${id}-caption"` : ""}>${caption}</caption><thead><tr>${
    columns.map((column) => `<th scope="col">${column}</th>`).join("")
  }</tr></thead><tbody></tbody></table>`

const body = `<header>
<h1>RayInfo</h1>
<dl id="summary" aria-label="Service summary"></dl>
<p id="updated">Loading…</p>
<form id="auth"><label for="token">API token</label>
<input id="token" type="password" autocomplete="off" spellcheck="false">
<button type="submit">Use token</button><button type="button" id="forget">Forget token</button>
<span id="authstate"></span></form>
<p id="msg" role="status" aria-live="polite"></p>
</header>
<main>
<section aria-labelledby="h-sources"><h2 id="h-sources">Sources</h2>
${
  table(
    "sources",
    "The scheduler's tasks by source (a job, or :manual: its manual runs) since the service started: pending, " +
      "running, done, failed (dead letters) and retried; lateness is start minus due time. " +
      "A collector run that fails still completes its task: see Recent failures.",
    [
      "Source",
      "State",
      "Pending",
      "Running",
      "Done",
      "Failed",
      "Retried",
      "Lateness mean",
      "Lateness max",
      "Action"
    ]
  )
}</section>
<section aria-labelledby="h-timeline"><h2 id="h-timeline">Upcoming runs</h2>
<form><label for="win">Window</label><select id="win"><option value="1">next hour</option>
<option value="6" selected>next 6 hours</option><option value="24">next 24 hours</option></select></form>
${table("timeline", "", ["Job", "Timing", "Next run", "Runs in window", "Timeline"])}</section>
<section aria-labelledby="h-failures"><h2 id="h-failures">Recent failures</h2>
${
  table("failures", "Jobs whose last run did not succeed, latest first.", [
    "Job",
    "Outcome",
    "At",
    "Error",
    "Failed runs",
    "Next try"
  ])
}</section>
<section aria-labelledby="h-dead"><h2 id="h-dead">Dead letters</h2>
${
  table("dead", "Tasks the scheduler gave up on, oldest first (20 a page).", [
    "Task",
    "Source",
    "Reason",
    "Attempts",
    "At",
    "Error",
    "Action"
  ])
}
<p><button type="button" id="dl-first" hidden>First page</button> <button type="button" id="dl-next" hidden>Next page</button></p></section>
<section aria-labelledby="h-items"><h2 id="h-items">Collected items</h2>
<form id="itemsform" role="search"><label for="q">Search items</label><input id="q" type="search" maxlength="200">
<label for="src">Source</label><select id="src"><option value="">All sources</option></select>
<button type="submit">Search</button></form>
<p class="hint">Typing filters the items loaded; Search asks the service (key or raw text, any case).</p>
${table("items", "", ["Stored", "Source", "Title", "Key"])}
<p><button type="button" id="more" hidden>Load 50 more</button></p></section>
</main>`

const sha256 = (text: string): string => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`

/**
 * The page's Content-Security-Policy: nothing but its own inline script and
 * style (by hash) and requests to its own origin; no framing, no `<base>`,
 * no form posts.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  `script-src ${sha256(script)}`,
  `style-src ${sha256(style)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

/** The page's HTML (about 18 KB). */
export const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>RayInfo dashboard</title><style>${style}</style></head>
<body>
${body}
<script>${script}</script>
</body></html>
`

/** `GET /`'s response: the page, `text/html; charset=utf-8`, with its CSP; revalidated at each load. */
export const response: HttpServerResponse.HttpServerResponse = HttpServerResponse.text(html, {
  contentType: "text/html; charset=utf-8",
  headers: {
    "content-security-policy": contentSecurityPolicy,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache"
  }
})
