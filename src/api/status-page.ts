/**
 * The status page at GET /: one self-contained HTML document (no CDN, nothing fetched from
 * elsewhere) that polls ./status and redraws. Text is inserted with textContent only.
 */
export function statusPage(): string {
  return PAGE;
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lvsd status</title>
<style>
:root { --up:#1a7f37; --down:#cf222e; --unk:#9a6700; --drain:#0969da; --fg:#1f2328; --mute:#59636e; --line:#d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; padding: 16px 24px; }
header { display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; border-bottom: 1px solid var(--line); padding-bottom: 8px; }
h1 { font-size: 20px; margin: 0; }
.meta { color: var(--mute); }
section { margin-top: 20px; }
h2 { font-size: 16px; margin: 0 0 6px; }
h2 small { font-weight: normal; color: var(--mute); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--mute); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.detail { white-space: normal; color: var(--mute); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: 700; }
.UP { color: var(--up); } .DOWN { color: var(--down); } .UNKNOWN { color: var(--unk); } .DRAINING, .MAINT { color: var(--drain); }
.MASTER { color: var(--up); } .BACKUP { color: var(--mute); } .FAULT, .INIT { color: var(--down); }
.stale { opacity: .55; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; border: 1px solid currentColor; }
#error { color: var(--down); }
</style></head>
<body>
<header><h1>lvsd</h1><span class="meta" id="node"></span><span id="vrrp"></span><span class="meta" id="ipvs"></span><span class="meta" id="summary"></span><span class="meta" id="updated"></span><span id="error" role="alert"></span></header>
<main id="services"></main>
<script>
"use strict";
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function ago(iso, now) {
  const s = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
  if (s < 90) return s + "s ago";
  if (s < 5400) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}
function weightText(rs) {
  // applied (in the table) / wanted when they differ / configured when it differs
  if (rs.weight === null && rs.wanted_weight === null) return "out";
  let t = rs.weight === null ? "out" : String(rs.weight);
  if (rs.wanted_weight !== "keep" && rs.wanted_weight !== rs.weight) t += " \u2192 " + (rs.wanted_weight === null ? "out" : rs.wanted_weight);
  if (rs.configured_weight !== rs.weight) t += " (of " + rs.configured_weight + ")";
  return t;
}
function render(st) {
  document.getElementById("node").textContent = "node " + st.node + " \u00b7 v" + st.version;
  const vr = document.getElementById("vrrp");
  if (st.vrrp) {
    const v = st.vrrp;
    vr.className = "badge " + v.state;
    vr.textContent = "VRRP " + v.state + " \u00b7 vrid " + v.vrid + " \u00b7 priority " + v.priority
      + (v.priority !== v.configured_priority ? " of " + v.configured_priority : "") + " \u00b7 " + v.interface + " \u00b7 " + v.virtual_addresses.join(" ");
  } else {
    vr.className = "meta";
    vr.textContent = "no failover";
  }
  const lr = st.ipvs.last_reconcile;
  document.getElementById("ipvs").textContent = "ipvs " + st.ipvs.driver + (lr ? (lr.converged ? " \u00b7 in sync" : " \u00b7 NOT in sync: " + (lr.error || "retrying")) : "");
  let up = 0, total = 0;
  for (const svc of st.services) { up += svc.up; total += svc.total; }
  document.getElementById("summary").textContent = st.services.length + " services \u00b7 " + up + "/" + total + " realservers up";
  document.getElementById("updated").textContent = "updated " + new Date(st.now).toLocaleTimeString();
  const main = document.getElementById("services");
  main.replaceChildren();
  for (const svc of st.services) {
    const sec = el("section", { "data-service": svc.name });
    const h = el("h2", {}, svc.name + " ");
    h.append(el("small", {}, svc.protocol + " " + svc.address + " \u00b7 " + svc.scheduler + " \u00b7 " + svc.forward + " \u00b7 " + svc.up + "/" + svc.total + " up"));
    if (svc.sorry_active) h.append(" ", el("span", { class: "badge DOWN" }, "sorry server " + svc.sorry_server));
    sec.append(h);
    const t = el("table");
    const head = el("tr");
    for (const c of ["realserver", "state", "since", "weight", "conns", "check", "last result", "latency", "checked", "fails", "detail"]) head.append(el("th", {}, c));
    t.append(head);
    for (const rs of svc.realservers) {
      const tr = el("tr", { "data-realserver": rs.id, "data-state": rs.state });
      tr.append(el("td", {}, rs.id));
      tr.append(el("td", { class: "state " + rs.state }, rs.state));
      tr.append(el("td", { title: rs.since }, ago(rs.since, st.now)));
      tr.append(el("td", { class: "num" }, weightText(rs)));
      tr.append(el("td", { class: "num", title: "active / inactive" }, rs.active_conns === null ? "\u2013" : rs.active_conns + " / " + rs.inactive_conns));
      tr.append(el("td", {}, rs.check.type + ":" + rs.check.port));
      tr.append(el("td", { class: rs.last ? (rs.last.ok ? "UP" : "DOWN") : "" }, rs.last ? rs.last.outcome : "\u2013"));
      tr.append(el("td", { class: "num" }, rs.last ? rs.last.latency_ms.toFixed(1) + " ms" : "\u2013"));
      tr.append(el("td", { title: rs.last ? rs.last.at : "" }, rs.last ? ago(rs.last.at, st.now) : "\u2013"));
      tr.append(el("td", { class: "num" }, rs.consecutive_fail));
      tr.append(el("td", { class: "detail" }, rs.last ? rs.last.detail : ""));
      t.append(tr);
    }
    sec.append(t);
    for (const l of svc.leaving) {
      sec.append(el("p", { class: "meta" }, "leaving the config: " + l.address + " (" + l.active_conns + " active connections, since " + ago(l.since, st.now) + ")"));
    }
    main.append(sec);
  }
}
async function tick() {
  try {
    const r = await fetch("status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    document.getElementById("error").textContent = "";
    document.body.classList.remove("stale");
  } catch (e) {
    // keep the last table, greyed out: it is what lvsd last said, not what holds now
    document.getElementById("error").textContent = "cannot reach lvsd: " + e.message;
    document.body.classList.add("stale");
  }
}
tick();
setInterval(tick, 2000);
</script>
</body></html>
`;
