// suanli dashboard: reads the operator JSON API with the session cookie and redraws every REFRESH_MS.
"use strict";
(function (suanli) {
  const REFRESH_MS = 15000;
  const FAILURE_CHARS = 140;  // longer reasons (lists of clashing identities) show in full on hover
  const PRECISIONS = ["fp64", "fp64_tensor", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"];
  const el = suanli.el, cell = suanli.cell, $ = (id) => document.getElementById(id);
  const state = { datacenter: null, node: null };

  class LoggedOut extends Error {}

  async function api(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401 || response.status === 403) throw new LoggedOut(path);
    const body = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${body.error ? body.error.code : ""}`);
    return body;
  }
  const query = (params) => new URLSearchParams(params).toString();

  function tile(key, label, value, text) {
    return el("div", { class: "tile", dataset: { total: key, value: String(value) } }, el("dt", {}, label), el("dd", {}, text));
  }

  function drawTotals(total) {
    const tiles = [
      tile("nodes", "Nodes", total.nodes, suanli.count(total.nodes)),
      tile("cpu_physical_cores", "CPU cores (physical)", total.cpu_physical_cores, suanli.count(total.cpu_physical_cores)),
      tile("cpu_logical_cores", "CPU threads", total.cpu_logical_cores, suanli.count(total.cpu_logical_cores)),
      tile("memory_bytes", "Memory", total.memory_bytes, suanli.bytes(total.memory_bytes)),
      tile("accelerators_total", "Accelerators", total.accelerators_total, suanli.count(total.accelerators_total)),
      tile("accelerators_in_use", "Accelerators in use", total.accelerators_in_use,
        `${suanli.count(total.accelerators_in_use)} (${suanli.percent(total.accelerators_in_use, total.accelerators_total)})`),
      tile("storage_bytes", "Storage", total.storage_bytes, suanli.bytes(total.storage_bytes)),
      tile("standard_racks", "Standard racks (2.5 kW)", total.standard_racks ?? 0, (total.standard_racks ?? 0).toFixed(1)),
      ...PRECISIONS.map((p) => tile(`flops.${p}`, p.toUpperCase().replace("_", " "), total.flops[p] ?? 0, suanli.flops(total.flops[p]))),
    ];
    $("totals-list").replaceChildren(...tiles);
  }

  function shorten(text, chars) { return text.length > chars ? `${text.slice(0, chars - 1)}…` : text; }

  function used(group) { return `${suanli.count(group.accelerators_in_use)} / ${suanli.count(group.accelerators_total)}`; }

  function drawPlaces(groups) {
    const rows = groups.map((g) => el("tr", {
      class: "clickable" + (g.datacenter === state.datacenter ? " selected" : ""),
      dataset: { datacenter: g.datacenter, province: g.province }, tabindex: 0,
      onclick: () => openDatacenter(g.datacenter),
    }, cell(g.province), cell(g.datacenter), cell(suanli.count(g.nodes), true),
      cell(`${suanli.count(g.cpu_physical_cores)} / ${suanli.count(g.cpu_logical_cores)}`, true), cell(suanli.bytes(g.memory_bytes), true),
      cell(used(g), true), cell(suanli.flops(g.flops.fp16), true), cell(suanli.flops(g.flops.fp32), true),
      cell(suanli.bytes(g.storage_bytes), true), cell((g.standard_racks ?? 0).toFixed(1), true)));
    suanli.fill($("places-table").tBodies[0], rows, "No nodes yet: enroll agents with a bootstrap token.", 10);
  }

  function drawModels(models) {
    const rows = models.map((m) => el("tr", {}, cell(m.vendor), cell(m.model), cell(suanli.count(m.in_use), true),
      cell(suanli.count(m.total), true),
      el("td", {}, el("span", { class: "bar", title: suanli.percent(m.in_use, m.total) },
        el("span", { style: { width: `${m.total ? Math.min(100, 100 * m.in_use / m.total) : 0}%` } })), " ", suanli.percent(m.in_use, m.total)),
      cell(m.known ? "yes" : "no (no FLOPS counted)", false, m.known ? "" : "state-uncertified")));
    suanli.fill($("models-table").tBodies[0], rows, "No accelerators.", 6);
  }

  function drawCertification(body) {
    const c = body.counts;
    $("cert-counts").replaceChildren(
      el("span", { class: "state-certified" }, `${suanli.count(c.certified)} certified`),
      el("span", { class: "state-uncertified" }, `${suanli.count(c.uncertified)} uncertified`),
      el("span", {}, `${suanli.count(c.unevaluated)} not yet evaluated`),
      el("span", { class: "stale" }, `${suanli.count(c.stale)} stale (silent > ${body.stale_after_s} s)`),
      el("span", { class: "status-quarantined" }, `${suanli.count(c.quarantined)} quarantined`));
    const problems = body.nodes.filter((n) => n.state !== "certified" || n.stale || n.status === "quarantined");
    const rows = problems.map((n) => el("tr", { dataset: { node: n.node_id } },
      cell(n.node_id), cell(n.hostname), cell(n.datacenter), cell(n.rack || ""),
      cell(n.status, false, `status-${n.status}`), cell(suanli.ago(n.last_seen_at), false, n.stale ? "stale" : ""),
      cell(n.state, false, `state-${n.state}`),
      el("td", { class: "failures" }, Object.entries(n.failures).map(([check, reason]) =>
        el("div", { title: reason }, el("b", {}, check), ": ", shorten(reason, FAILURE_CHARS))))));
    suanli.fill($("attention-table").tBodies[0], rows, "Every node is certified and reporting.", 8);
  }

  function drawHistory(body) {
    const samples = body.samples;
    const fleet = { name: "all accelerators", points: samples.filter((s) => s.accelerators_total > 0)
      .map((s) => [Date.parse(s.at), 100 * s.accelerators_in_use / s.accelerators_total]) };
    const names = [...new Set(samples.flatMap((s) => Object.keys(s.models)))].sort();
    const models = names.map((name) => ({ name, points: samples.filter((s) => s.models[name] && s.models[name].total > 0)
      .map((s) => [Date.parse(s.at), 100 * s.models[name].in_use / s.models[name].total]) }));
    $("history-note").textContent = `(sampled every ${body.interval_s} s by this server since it started; ${samples.length} samples)`;
    suanli.lineChart($("fleet-chart"), [fleet, ...models], "No samples yet.");
  }

  async function openDatacenter(name) {
    state.datacenter = name;
    state.node = null;
    $("drill").hidden = false;
    $("node-detail").hidden = true;
    await drawDatacenter();
    document.querySelectorAll("#places-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.datacenter === name));
    $("drill").scrollIntoView({ block: "start" });
  }

  async function drawDatacenter() {
    const name = state.datacenter;
    const [racks, nodes] = await Promise.all([
      api(`/v1/capacity?${query({ by: "rack", datacenter: name })}`),
      api(`/v1/nodes?${query({ datacenter: name, limit: 500 })}`),
    ]);
    $("drill-title").textContent = `Data center ${name}`;
    suanli.fill($("racks-table").tBodies[0], racks.groups.map((g) => el("tr", { dataset: { rack: g.rack || "" } },
      cell(g.rack || "(no rack)"), cell(suanli.count(g.nodes), true),
      cell(`${suanli.count(g.cpu_physical_cores)} / ${suanli.count(g.cpu_logical_cores)}`, true), cell(used(g), true),
      cell(suanli.flops(g.flops.fp16), true), cell(suanli.bytes(g.storage_bytes), true),
      cell((g.rated_kw ?? 0).toFixed(1), true))), "No racks.", 7);
    suanli.fill($("nodes-table").tBodies[0], nodes.nodes.map((n) => el("tr", {
      class: "clickable" + (n.node_id === state.node ? " selected" : ""), dataset: { node: n.node_id }, tabindex: 0,
      onclick: () => openNode(n.node_id),
    }, cell(n.node_id), cell(n.hostname), cell(n.rack || ""), cell(n.status, false, `status-${n.status}`),
      cell(n.accelerators, true), cell(suanli.ago(n.last_seen_at)))), "No nodes.", 6);
    $("nodes-more").textContent = nodes.next_cursor ? "Showing the first 500 nodes; use `suanli nodes --datacenter` for all." : "";
  }

  function mean(values) { return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null; }

  async function openNode(nodeId) {
    state.node = nodeId;
    const since = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
    const [detail, usage] = await Promise.all([
      api(`/v1/nodes/${encodeURIComponent(nodeId)}`),
      api(`/v1/nodes/${encodeURIComponent(nodeId)}/usage?${query({ since, limit: 1000 })}`),
    ]);
    const inv = detail.inventory;
    $("node-title").textContent = `Node ${detail.hostname} (${detail.node_id})`;
    $("node-facts").textContent = [`status ${detail.status}`, `rack ${detail.rack || "none"}`,
      inv.cpu ? `${inv.cpu.model || "CPU"}, ${inv.cpu.logical_cores || "?"} threads` : "",
      `${inv.accelerators.length} accelerators`, `memory ${suanli.bytes(inv.memory ? inv.memory.total_bytes : 0)}`,
      `last seen ${suanli.ago(detail.last_seen_at)}`].filter(Boolean).join(" · ");
    const at = (p) => Date.parse(p.sent_at);
    const cpu = usage.points.filter((p) => p.usage.cpu_percent != null).map((p) => [at(p), p.usage.cpu_percent]);
    const gpu = usage.points.map((p) => [at(p), mean(p.usage.accelerators.map((a) => a.utilization_percent).filter((v) => v != null))])
      .filter((p) => p[1] !== null);
    $("node-detail").hidden = false;
    suanli.lineChart($("node-chart"), [{ name: "CPU %", points: cpu }, { name: "accelerators, mean %", points: gpu }],
      "No usage reports in the last 6 hours.");
    document.querySelectorAll("#nodes-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.node === nodeId));
  }

  async function refresh() {
    try {
      const [places, models, certification, history] = await Promise.all([
        api("/v1/capacity?by=datacenter"), api("/v1/capacity?by=accelerator_model"),
        api("/v1/certification?limit=200"), api("/dashboard/utilisation"),
      ]);
      drawTotals(places.total);
      drawPlaces(places.groups);
      drawModels(models.total.accelerators);
      drawCertification(certification);
      drawHistory(history);
      if (state.datacenter) await drawDatacenter();
      $("updated").textContent = `updated ${new Date(places.generated_at).toLocaleTimeString()}`;
      document.body.dataset.loaded = "true";
    } catch (error) {
      if (error instanceof LoggedOut) { window.location.assign("/login"); return; }
      $("updated").textContent = `refresh failed: ${error.message}`;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("drill-close").addEventListener("click", () => { state.datacenter = null; $("drill").hidden = true; });
    refresh();
    setInterval(refresh, REFRESH_MS);
  });
})(window.suanli = window.suanli || {});
