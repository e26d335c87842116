// suanli dashboard: number formatting and safe DOM building (text only, never HTML from data).
"use strict";
(function (suanli) {
  const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
  const FLOPS_UNITS = ["", "K", "M", "G", "T", "P", "E", "Z"];

  function scaled(value, units) {
    let unit = 0;
    while (Math.abs(value) >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
    return [value, units[unit], unit];
  }
  // Decimal units, as disks and national statistics count them.
  suanli.bytes = function (value) {
    const [v, u, i] = scaled(Number(value) || 0, BYTE_UNITS);
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${u}`;
  };
  suanli.flops = function (value) {
    const [v, u] = scaled(Number(value) || 0, FLOPS_UNITS);
    return `${v.toFixed(1)} ${u}FLOPS`;
  };
  suanli.count = function (value) { return Number(value || 0).toLocaleString("en-US"); };
  suanli.percent = function (part, whole) { return whole ? `${(100 * part / whole).toFixed(1)} %` : "–"; };
  suanli.ago = function (iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  };

  // An element with attributes and children (strings become text nodes).
  suanli.el = function (tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "onclick") node.addEventListener("click", value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") Object.assign(node.style, value);  // CSSOM: allowed by the page's CSP
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  suanli.cell = function (text, numeric, className) {
    return suanli.el("td", { class: [numeric ? "num" : "", className || ""].join(" ").trim() || null }, text);
  };
  suanli.fill = function (tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...(rows.length ? rows :
      [suanli.el("tr", {}, suanli.el("td", { colspan: columns, class: "note" }, emptyText))]));
  };
})(window.suanli = window.suanli || {});
