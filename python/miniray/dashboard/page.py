"""The dashboard's page: plain HTML and JavaScript, no build step. It reads
/api/overview every second and draws nodes, workers, tasks by state (with
their durations), actors, the object store's use over time (an SVG line)
and, on a click on a worker, that worker's log."""

HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>miniray dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
  header { background: #1f3b57; color: #fff; padding: 10px 20px; display: flex; gap: 24px;
           align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 20px; }
  section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 10px 14px;
            overflow: auto; max-height: 420px; }
  section.wide { grid-column: 1 / span 2; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eef0f2;
           white-space: nowrap; }
  th { color: #555; font-weight: 600; }
  .counts span { display: inline-block; margin: 0 12px 6px 0; padding: 2px 8px;
                 border-radius: 10px; background: #e8eef5; }
  .FINISHED { color: #17803d; } .FAILED { color: #c0362c; } .RUNNING { color: #1d5fbf; }
  pre { background: #11161c; color: #d7dde4; padding: 8px; max-height: 300px; overflow: auto;
        font-size: 12px; }
  tr.clickable { cursor: pointer; } tr.clickable:hover { background: #f0f4f8; }
</style>
</head>
<body>
<header><h1>miniray</h1><span id="summary">connecting…</span></header>
<main>
  <section id="nodes"><h2>Nodes</h2><div class="body"></div></section>
  <section id="store"><h2>Object store</h2><div class="body"></div><svg id="chart" width="100%"
      height="120" viewBox="0 0 600 120" preserveAspectRatio="none"></svg></section>
  <section id="tasks" class="wide"><h2>Tasks</h2><div class="counts"></div>
      <div class="body"></div></section>
  <section id="actors"><h2>Actors</h2><div class="body"></div></section>
  <section id="workers"><h2>Workers</h2><div class="body"></div></section>
  <section id="logs" class="wide"><h2>Logs <small id="logname">(click a worker)</small></h2>
      <pre id="logtext"></pre></section>
</main>
<script>
"use strict";
const esc = s => String(s === null || s === undefined ? "" : s)
  .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function table(rows, cols, rowAttrs) {
  if (!rows.length) return "<p>none</p>";
  let h = "<table><tr>" + cols.map(c => "<th>" + esc(c[0]) + "</th>").join("") + "</tr>";
  for (const r of rows) {
    h += "<tr" + (rowAttrs ? rowAttrs(r) : "") + ">" +
      cols.map(c => "<td>" + c[1](r) + "</td>").join("") + "</tr>";
  }
  return h + "</table>";
}
const mb = b => (b / 1048576).toFixed(1) + " MiB";
let logPid = null;
function showLog(pid) { logPid = pid; refreshLog(); }
async function refreshLog() {
  if (logPid === null) return;
  const files = await (await fetch("/api/logs")).json();
  const out = files.find(f => f.endsWith("-" + logPid + ".out"));
  const err = files.find(f => f.endsWith("-" + logPid + ".err"));
  let text = "";
  for (const f of [out, err]) {
    if (f) text += await (await fetch("/api/logs/" + encodeURIComponent(f) + "?tail=200")).text() + "\n";
  }
  document.getElementById("logname").textContent = "worker pid " + logPid;
  document.getElementById("logtext").textContent = text;
}
function chart(history) {
  const svg = document.getElementById("chart");
  if (history.length < 2) { svg.innerHTML = ""; return; }
  const cap = Math.max(...history.map(p => p.capacity), 1);
  const t0 = history[0].t, t1 = history[history.length - 1].t || t0 + 1;
  const pts = history.map(p => ((p.t - t0) / Math.max(t1 - t0, 1) * 600).toFixed(1) + "," +
    (118 - p.used / cap * 116).toFixed(1)).join(" ");
  svg.innerHTML = '<polyline fill="none" stroke="#1d5fbf" stroke-width="2" points="' + pts + '"/>';
}
async function refresh() {
  let d;
  try { d = await (await fetch("/api/overview?limit=100")).json(); }
  catch (e) { document.getElementById("summary").textContent = "disconnected"; return; }
  const running = d.task_counts.RUNNING || 0;
  document.getElementById("summary").textContent =
    d.nodes.length + " node(s), " + d.workers.length + " worker(s), " + running +
    " running task(s), " + d.actors.length + " actor(s)";
  document.querySelector("#nodes .body").innerHTML = table(d.nodes, [
    ["node", r => esc(r.node_id.slice(0, 12))], ["ip", r => esc(r.node_ip)],
    ["state", r => esc(r.state)],
    ["CPU", r => esc((r.resources_total.CPU - (r.resources_available.CPU || 0)) + " / " +
                     r.resources_total.CPU)]]);
  document.querySelector("#store .body").innerHTML =
    "<p>" + mb(d.store.used) + " of " + mb(d.store.capacity) + " in " + d.store.objects +
    " objects; " + d.store.spilled_objects + " spilled (" + mb(d.store.spilled_bytes) + ")</p>";
  chart(d.store_history);
  document.querySelector("#tasks .counts").innerHTML = Object.entries(d.task_counts)
    .map(([k, v]) => '<span class="' + esc(k) + '">' + esc(k) + ": " + v + "</span>").join("");
  document.querySelector("#tasks .body").innerHTML = table(d.tasks, [
    ["name", r => esc(r.name)], ["state", r => '<span class="' + esc(r.state) + '">' +
      esc(r.state) + "</span>"],
    ["duration", r => r.duration_s !== null ? (r.duration_s * 1000).toFixed(1) + " ms" :
      r.state === "RUNNING" && r.creation_time_ms ?
        ((d.time * 1000 - r.creation_time_ms) / 1000).toFixed(1) + " s so far" : ""],
    ["worker pid", r => esc(r.worker_pid)], ["type", r => esc(r.type)],
    ["task id", r => esc(r.task_id.slice(0, 16))], ["error", r => esc(r.error_type)]]);
  document.querySelector("#actors .body").innerHTML = table(d.actors, [
    ["class", r => esc(r.class_name)], ["name", r => esc(r.name)],
    ["state", r => esc(r.state)], ["pid", r => esc(r.pid)],
    ["restarts", r => esc(r.num_restarts)]]);
  document.querySelector("#workers .body").innerHTML = table(d.workers, [
    ["pid", r => esc(r.pid)], ["type", r => esc(r.worker_type)],
    ["actor", r => esc((r.actor_id || "").slice(0, 12))],
    ["running", r => esc((r.current_task_id || "").slice(0, 12))]],
    r => r.worker_type === "WORKER" ? ' class="clickable" onclick="showLog(' + r.pid + ')"' : "");
  refreshLog();
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"""
