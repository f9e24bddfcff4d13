#!/usr/bin/env node
// What a point-of-sale app does with ebb's local API (docs/api.md), in
// plain Node (18+): no framework, only `fetch` and `EventSource`.
//
//   - a badge: records waiting to be sent, and conflicts waiting for a
//     decision (GET /api/status);
//   - a toast when a new conflict or a refused record appears
//     (GET /api/events, Server-Sent Events);
//   - a button that opens the web console where the shop owner decides.
//
// Run it beside `ebb run`:
//
//   EBB_API_TOKEN=... node example/app-api/pos-badge.mjs          # follow events
//   node example/app-api/pos-badge.mjs --once                     # print the badge, exit
//   EBB_API_TOKEN=... node example/app-api/pos-badge.mjs --open   # open the console
//
// EBB_URL is where `ebb run` serves (ops.listen; default
// http://127.0.0.1:9464). The token (ops.api_token_env, EBB_API_TOKEN by
// default) is only needed for changes and to open the console unlocked;
// reading works without it on loopback. An Electron app does the same
// from its main process (Node: no Origin header is sent), or loads the
// console URL in a BrowserWindow.
import { spawn } from "node:child_process";

const BASE = (process.env.EBB_URL || "http://127.0.0.1:9464").replace(/\/$/, "");
const TOKEN = process.env.EBB_API_TOKEN || "";
const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};

async function get(path) {
  const res = await fetch(BASE + path, { headers });
  const body = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${body.error} (at ${body.where})`);
  return body;
}

/** The badge a till shows next to its sync icon. */
async function badge() {
  const s = await get("/api/status");
  const waiting = Object.entries(s.queue)
    .filter(([state]) => ["pending", "retry", "inflight"].includes(state))
    .reduce((n, [, count]) => n + count, 0);
  const notSent = (s.queue.invalid || 0) + (s.queue.dead || 0);
  const mark = s.health.healthy ? (s.open_conflicts || notSent ? "!" : "ok") : "x";
  return `[sync ${mark}] ${waiting} waiting, ${s.open_conflicts} conflict(s), ${notSent} not sent`;
}

function toast(text) {
  // A real app shows a notification; a terminal prints a line.
  console.log(`>> ${text}`);
}

/** The console's address; with the token in the #fragment (never sent to
 * the server, kept in the page's sessionStorage) it opens unlocked. */
function consoleUrl() {
  return TOKEN ? `${BASE}/#token=${encodeURIComponent(TOKEN)}` : `${BASE}/`;
}

function openConsole() {
  const url = consoleUrl();
  const [cmd, args] =
    process.platform === "win32" ? ["cmd", ["/c", "start", "", url]]
    : process.platform === "darwin" ? ["open", [url]]
    : ["xdg-open", [url]];
  spawn(cmd, args, { stdio: "ignore", detached: true }).on("error", () => {
    console.log(`open ${BASE}/ in a browser`);
  }).unref();
}

/** Server-Sent Events: the platform's EventSource where there is one
 * (browsers, Electron, Node 22+ with --experimental-eventsource), else the
 * same protocol read from `fetch` (Node 18 and 20). */
function follow(onEvent) {
  if (typeof EventSource === "function" && !TOKEN) {
    const es = new EventSource(`${BASE}/api/events`);
    for (const kind of ["round_finished", "conflict_new", "conflict_settled", "item_held", "health_changed"]) {
      es.addEventListener(kind, (e) => onEvent(kind, JSON.parse(e.data)));
    }
    return;
  }
  (async () => {
    for (;;) {
      try {
        const res = await fetch(`${BASE}/api/events`, { headers });
        const decoder = new TextDecoder();
        let buf = "";
        for await (const chunk of res.body) {
          buf += decoder.decode(chunk, { stream: true });
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const kind = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (kind && data) onEvent(kind, JSON.parse(data));
          }
        }
      } catch (e) {
        console.error(`events: ${e.message}; retrying in 3 s`);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  })();
}

async function main() {
  const args = process.argv.slice(2);
  console.log(await badge());
  if (args.includes("--once")) return;
  if (args.includes("--open")) return openConsole();
  console.log(`console: ${BASE}/ (run with --open to open it)`);
  follow(async (kind, e) => {
    if (kind === "conflict_new") toast(`${e.table} ${e.pk} was changed here and on the server: decide in the console`);
    if (kind === "item_held") toast(`${e.table} ${e.pk} was not accepted: ${e.error || e.state}`);
    if (kind === "health_changed" && !e.health.healthy) toast(`sync needs attention: ${e.health.problems.map((p) => p.message).join("; ")}`);
    if (["round_finished", "conflict_settled", "item_held"].includes(kind)) console.log(await badge());
  });
}

main().catch((e) => {
  console.error(`ebb: ${e.message} (is \`ebb run\` up at ${BASE}?)`);
  process.exit(1);
});
