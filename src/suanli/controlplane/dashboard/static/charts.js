// suanli dashboard: small SVG line charts drawn here (no chart library, nothing fetched from elsewhere).
"use strict";
(function (suanli) {
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = ["#0b6bcb", "#b54708", "#067647", "#7a2e9e", "#b42318", "#1d7a8c", "#5d6b78"];
  const W = 800, H = 220, LEFT = 44, RIGHT = 10, TOP = 10, BOTTOM = 24;

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function clock(ms) { return new Date(ms).toTimeString().slice(0, 5); }

  // series: [{name, points: [[time ms, value 0..100], ...]}]; the y axis is a percentage.
  suanli.lineChart = function (container, series, emptyText) {
    const drawn = series.filter((s) => s.points.length > 0);
    const times = drawn.flatMap((s) => s.points.map((p) => p[0]));
    if (times.length === 0) {
      container.replaceChildren(suanli.el("p", { class: "note" }, emptyText));
      return;
    }
    let t0 = Math.min(...times), t1 = Math.max(...times);
    if (t1 === t0) { t0 -= 60000; t1 += 60000; }
    const x = (t) => LEFT + (W - LEFT - RIGHT) * (t - t0) / (t1 - t0);
    const y = (v) => TOP + (H - TOP - BOTTOM) * (1 - Math.min(100, Math.max(0, v)) / 100);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    for (const v of [0, 25, 50, 75, 100]) {
      chart.append(svg("line", { class: "axis", x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }));
      chart.append(svg("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end" }, `${v}%`));
    }
    for (const t of [t0, (t0 + t1) / 2, t1]) {
      chart.append(svg("text", { x: x(t), y: H - 6, "text-anchor": "middle" }, clock(t)));
    }
    drawn.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      const path = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      chart.append(svg("path", { class: "series", d: path, stroke: colour }));
      if (s.points.length === 1) chart.append(svg("circle", { cx: x(s.points[0][0]), cy: y(s.points[0][1]), r: 3, fill: colour }));
    });
    const legend = suanli.el("p", { class: "legend" }, drawn.map((s, i) =>
      suanli.el("span", {}, suanli.el("i", { style: { background: COLOURS[i % COLOURS.length] } }), s.name)));
    container.replaceChildren(chart, legend);
  };
})(window.suanli = window.suanli || {});
