// ebb's web console: reads the local API (/api/...), follows /api/events,
// and sends a person's decisions with the access code they typed in (kept
// in this tab's sessionStorage, never a cookie). No framework, no build
// step. Every value from the database is shown with textContent, never as
// HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: null, conflict: null, editing: false, tables: [], healthy: null };

// ---- small helpers --------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function words(name) {
  const s = String(name).replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function ago(ms) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 10) return "just now";
  if (s < 60) return s + " seconds ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

function shown(v) {
  if (v === null || v === undefined) return "(empty)";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function toast(text, kind) {
  const t = h("div", { class: "toast " + (kind || "") }, text);
  $("toasts").append(t);
  setTimeout(() => t.remove(), 6000);
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  if (!res.ok) {
    const e = new Error((data && data.error) || res.status + " " + res.statusText);
    e.status = res.status;
    e.data = data;
    throw e;
  }
  return data;
}

// ---- the access code -----------------------------------------------------

function loadToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("ebb-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  state.token = sessionStorage.getItem("ebb-token");
  $("lock").textContent = state.token ? "Lock" : "Unlock changes";
}

function needToken(then) {
  if (state.token) return then();
  $("unlock-error").hidden = true;
  $("unlock").showModal();
  state.afterUnlock = then;
}

async function changed(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem("ebb-token");
      state.token = null;
      loadToken();
      toast("The access code was not accepted. Unlock again.", "bad");
    }
    throw e;
  }
}

// ---- health, tables -------------------------------------------------------

async function refreshStatus() {
  const s = await api("GET", "/api/status");
  state.healthy = s.health.healthy;
  $("device").textContent = "this till: " + s.device;
  const banner = $("banner");
  const errors = s.health.problems.filter((p) => p.severity === "error");
  const warnings = s.health.problems.filter((p) => p.severity !== "error");
  banner.className = "banner " + (errors.length ? "bad" : warnings.length ? "warn" : "good");
  $("banner-title").textContent = errors.length
    ? "Sync needs help"
    : warnings.length ? "Syncing — some things need your attention" : "All good — everything is in sync";
  $("banner-problems").replaceChildren(
    ...s.health.problems.map((p) => h("li", {}, p.message))
  );
  $("footer").textContent =
    "Last round " + ago(s.last_round_at) + (s.last_error ? " — last error: " + s.last_error : "");
}

async function refreshTables() {
  const tables = await api("GET", "/api/tables");
  state.tables = tables;
  $("tables").replaceChildren(
    ...tables.map((t) =>
      h("div", { class: "card" + (t.dead || t.invalid || t.conflicts ? " attention" : ""), "data-table": t.table },
        h("h3", {}, words(t.table)),
        h("dl", {},
          h("dt", {}, "Records"), h("dd", {}, t.rows),
          h("dt", {}, "Waiting to send"), h("dd", {}, t.pending),
          h("dt", {}, "Last synced"), h("dd", {}, ago(t.last_sync_at)),
          t.conflicts ? [h("dt", {}, "Need a decision"), h("dd", {}, t.conflicts)] : null,
          t.invalid + t.dead ? [h("dt", {}, "Not sent"), h("dd", {}, t.invalid + t.dead)] : null
        )
      )
    )
  );
}

// ---- conflicts -------------------------------------------------------------

async function refreshConflicts() {
  const list = await api("GET", "/api/conflicts");
  $("conflict-count").textContent = list.length ? String(list.length) : "";
  if (!list.length) {
    $("conflicts").replaceChildren(h("p", { class: "empty" }, "Nothing to decide."));
  } else {
    $("conflicts").replaceChildren(
      ...list.map((c) =>
        h("button", { type: "button", class: "item", "data-conflict-id": c.id, onclick: () => openConflict(c.id) },
          h("strong", {}, words(c.table) + " " + c.pk),
          h("span", { class: "muted" }, " — " + c.reason + " (" + ago(c.created_at) + ")")
        )
      )
    );
  }
  if (state.conflict && !list.some((c) => c.id === state.conflict.id)) closeConflict();
}

function closeConflict() {
  state.conflict = null;
  state.editing = false;
  $("conflict").hidden = true;
  $("conflict").replaceChildren();
}

async function openConflict(id) {
  state.conflict = await api("GET", "/api/conflicts/" + id);
  state.editing = false;
  drawConflict();
}

function drawConflict() {
  const c = state.conflict;
  const box = $("conflict");
  box.hidden = false;
  const head = h("tr", {}, h("th", {}, "Field"), h("th", {}, "This till"), h("th", {}, "Server"),
    h("th", {}, "Before both changes"), state.editing ? h("th", {}, "Combined version") : null);
  const rows = c.differences.map((d) =>
    h("tr", { class: d.differs ? "differs" : "", "data-field": d.field },
      h("td", {}, words(d.field)),
      h("td", { class: d.changed_local ? "changed" : "" }, c.local ? shown(d.local) : "(deleted)"),
      h("td", { class: d.changed_remote ? "changed" : "" }, c.remote ? shown(d.remote) : "(deleted)"),
      h("td", {}, c.base ? shown(d.base) : "(new)"),
      state.editing
        ? h("td", {}, h("input", {
            "data-merge": d.field,
            value: d.local === null || d.local === undefined ? "" : typeof d.local === "object" ? JSON.stringify(d.local) : String(d.local),
            "data-kind": typeof (d.local ?? d.remote),
            readonly: d.field === c.columns[0] && d.field === "id" ? true : null,
          }))
        : null
    )
  );
  const buttons = state.editing
    ? [h("button", { type: "button", id: "save-merged", onclick: saveMerged }, "Save combined version"),
       h("button", { type: "button", class: "secondary", onclick: () => { state.editing = false; drawConflict(); } }, "Cancel")]
    : [h("button", { type: "button", id: "take-local", onclick: () => settle({ take: "local" }) }, "Keep this till's version"),
       h("button", { type: "button", id: "take-remote", onclick: () => settle({ take: "remote" }) }, "Keep the server's version"),
       c.local && c.remote ? h("button", { type: "button", id: "edit-merged", class: "secondary", onclick: () => { state.editing = true; drawConflict(); } }, "Combine…") : null];
  box.replaceChildren(
    h("h3", {}, words(c.table) + " " + c.pk),
    h("p", {}, c.reason + " — highlighted fields differ."),
    h("table", { class: "sides" }, h("thead", {}, head), h("tbody", {}, rows)),
    h("p", { id: "conflict-error", class: "error", hidden: true }),
    h("div", { class: "row" }, buttons, h("button", { type: "button", class: "secondary", onclick: closeConflict }, "Close")),
    h("details", {}, h("summary", {}, "Show as JSON"),
      h("pre", {}, JSON.stringify({ local: c.local, remote: c.remote, base: c.base }, null, 2)))
  );
}

function mergedRow() {
  const row = {};
  for (const input of document.querySelectorAll("[data-merge]")) {
    const field = input.dataset.merge;
    const text = input.value;
    const kind = input.dataset.kind;
    if (text === "" && kind !== "string") row[field] = null;
    else if (kind === "number") row[field] = Number(text);
    else if (kind === "boolean") row[field] = text === "true" || text === "1";
    else if (kind === "object") { try { row[field] = JSON.parse(text); } catch (_) { row[field] = text; } }
    else row[field] = text;
  }
  return row;
}

function saveMerged() {
  settle({ row: mergedRow() });
}

function settle(body) {
  needToken(async () => {
    const c = state.conflict;
    try {
      await changed("POST", "/api/conflicts/" + c.id + "/resolve", body);
      toast("Saved. " + words(c.table) + " " + c.pk + " will be sent now.", "good");
      closeConflict();
      refreshAll();
    } catch (e) {
      const p = $("conflict-error");
      if (p) {
        p.hidden = false;
        p.textContent = "Not saved: " + e.message;
      }
    }
  });
}

// ---- held items -------------------------------------------------------------

async function refreshHeld() {
  const items = await api("GET", "/api/queue?state=invalid,dead&limit=200");
  $("held-count").textContent = items.length ? String(items.length) : "";
  if (!items.length) {
    $("held").replaceChildren(h("p", { class: "empty" }, "Every change was accepted."));
    return;
  }
  $("held").replaceChildren(
    ...items.map((i) =>
      h("div", { class: "item held", "data-item-id": i.id },
        h("div", {},
          h("strong", {}, words(i.table) + " " + i.pk),
          h("span", { class: "tag " + i.state },
            i.state === "dead" ? "gave up after " + i.attempts + " tries" : "refused: needs a fix"),
          h("div", { class: "muted" }, i.error || "")
        ),
        h("button", { type: "button", class: "secondary", onclick: () => retry(i.id) }, "Try again")
      )
    )
  );
}

function retry(id) {
  needToken(async () => {
    try {
      await changed("POST", "/api/queue/" + encodeURIComponent(id) + "/retry");
      toast("It will be sent again now.", "good");
      refreshAll();
    } catch (e) {
      toast("Could not retry: " + e.message, "bad");
    }
  });
}

// ---- charts -------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// One chart: bars per minute (`bars`) or lines, over at least the last
// hour and at most the history kept, so a fresh start still shows.
function chart(title, minutes, series, since, now, bars) {
  const W = 360, H = 110, P = 4, MIN = 60000;
  const from = Math.max(since, Math.min(now - 60 * MIN, minutes[0].at));
  const shown = minutes.filter((m) => m.at >= from);
  const peak = Math.max(0, ...shown.flatMap((m) => series.map((x) => x.get(m))));
  const top = Math.max(1, peak);
  const x = (at) => P + ((at - from) / Math.max(1, now - from)) * (W - 2 * P);
  const y = (v) => H - P - (v / top) * (H - 2 * P);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.append(s("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis" }));
  const step = Math.max(2, (W - 2 * P) / ((now - from) / MIN) / series.length);
  series.forEach((ser, i) => {
    if (bars) {
      for (const m of shown) {
        const v = ser.get(m);
        if (!v) continue;
        svg.append(s("rect", { x: (x(m.at) + i * step).toFixed(1), y: y(v).toFixed(1), width: step.toFixed(1),
          height: (H - P - y(v)).toFixed(1), class: "bar " + ser.cls }));
      }
    } else {
      const pts = shown.map((m) => `${x(m.at).toFixed(1)},${y(ser.get(m)).toFixed(1)}`);
      svg.append(s("polyline", { points: pts.join(" "), class: "line " + ser.cls }));
      for (const m of shown.slice(-1)) {
        svg.append(s("circle", { cx: x(m.at).toFixed(1), cy: y(ser.get(m)).toFixed(1), r: 2.5, class: "dot " + ser.cls }));
      }
    }
  });
  const legend = series.map((ser) => h("span", { class: "key " + ser.cls }, ser.name));
  const totals = series.filter((ser) => ser.sum)
    .map((ser) => ser.name + ": " + shown.reduce((a, m) => a + ser.get(m), 0));
  return h("figure", { class: "chartbox" },
    h("figcaption", {}, h("strong", {}, title), " ", legend),
    svg,
    h("div", { class: "axis-labels muted small" }, h("span", {}, clock(from)), h("span", {}, "highest " + peak), h("span", {}, "now")),
    totals.length ? h("div", { class: "muted small" }, totals.join(" · ")) : null
  );
}

async function refreshCharts() {
  const hist = await api("GET", "/api/history");
  const m = hist.minutes;
  if (!m.length) {
    $("charts").replaceChildren(h("p", { class: "empty" }, "No history yet: it fills in as ebb runs."));
    return;
  }
  $("charts").replaceChildren(
    chart("Changes per minute", m, [
      { name: "sent", cls: "a", get: (x) => x.pushed, sum: true },
      { name: "received", cls: "b", get: (x) => x.pulled, sum: true },
    ], hist.since, hist.now, true),
    chart("Errors per minute", m, [
      { name: "failed requests", cls: "bad", get: (x) => x.errors, sum: true },
      { name: "failed rounds", cls: "warn", get: (x) => x.failed_rounds, sum: true },
    ], hist.since, hist.now, true),
    chart("Waiting to send", m, [{ name: "queue", cls: "a", get: (x) => x.queue_depth }], hist.since, hist.now),
    chart("Round time (ms)", m, [
      { name: "average", cls: "a", get: (x) => x.round_ms_avg },
      { name: "slowest", cls: "b", get: (x) => x.round_ms_max },
    ], hist.since, hist.now)
  );
}

// ---- live updates ---------------------------------------------------------------

let pending = null;
function refreshAll() {
  clearTimeout(pending);
  pending = setTimeout(() => {
    for (const f of [refreshStatus, refreshTables, refreshConflicts, refreshHeld, refreshCharts]) {
      f().catch((e) => console.warn(f.name, e));
    }
  }, 150);
}

function onEvent(kind, data) {
  if (kind === "conflict_new") toast("New conflict: " + words(data.table) + " " + data.pk + " needs a decision.", "warn");
  if (kind === "item_held") toast(words(data.table) + " " + data.pk + " was not accepted: " + (data.error || data.state), "bad");
  if (kind === "health_changed") {
    const was = state.healthy;
    state.healthy = data.health.healthy;
    if (was === true && !state.healthy) toast("Sync needs attention.", "bad");
    if (was === false && state.healthy) toast("Sync is healthy again.", "good");
  }
  if (kind === "progress") {
    $("footer").textContent = "Receiving " + words(data.table) + ": " + data.rows + " records (" + data.rows_per_s + "/s)";
    return;
  }
  if (kind !== "round_started") refreshAll();
}

async function follow() {
  const live = $("live");
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (state.token) headers.Authorization = "Bearer " + state.token;
      const res = await fetch("/api/events", { headers, credentials: "omit" });
      if (!res.ok || !res.body) throw new Error("events: " + res.status);
      live.textContent = "live";
      live.className = "live on";
      refreshAll();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let kind = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) kind = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data) {
            try { onEvent(kind, JSON.parse(data)); } catch (e) { console.warn(e); }
          }
        }
      }
    } catch (e) {
      console.warn(e);
    }
    live.textContent = "offline";
    live.className = "live off";
    await new Promise((r) => setTimeout(r, 3000));
  }
}

// ---- start -----------------------------------------------------------------------

function start() {
  loadToken();
  $("sync-now").addEventListener("click", () =>
    needToken(async () => {
      try {
        await changed("POST", "/api/sync");
        toast("Syncing now…");
      } catch (e) {
        toast("Could not start: " + e.message, "bad");
      }
    })
  );
  $("lock").addEventListener("click", () => {
    if (state.token) {
      sessionStorage.removeItem("ebb-token");
      loadToken();
    } else needToken(() => {});
  });
  $("unlock-cancel").addEventListener("click", () => $("unlock").close());
  $("unlock-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const code = $("token").value.trim();
    if (!code) return;
    sessionStorage.setItem("ebb-token", code);
    $("token").value = "";
    loadToken();
    $("unlock").close();
    const then = state.afterUnlock;
    state.afterUnlock = null;
    if (then) then();
  });
  refreshAll();
  follow();
  setInterval(refreshAll, 60000);
}

document.addEventListener("DOMContentLoaded", start);
