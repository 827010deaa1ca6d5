/* Sortable tables: click a header to sort every tbody of its table by that column (numeric when
   every non-empty key is a number, text otherwise); click again to reverse. A cell's key is its
   data-sort attribute, else its text. Empty keys stay last in both directions; ties keep order. */
(function () {
  "use strict";
  function cellKey(cell) {
    if (!cell) return "";
    var v = cell.getAttribute("data-sort");
    return (v === null ? cell.textContent : v).trim();
  }
  function sortBody(body, idx, sign) {
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (r) { return cellKey(r.cells[idx]); });
    var numeric = keys.every(function (k) { return k === "" || !isNaN(Number(k)); });
    var order = rows.map(function (r, i) { return i; });
    order.sort(function (a, b) {
      var ka = keys[a], kb = keys[b];
      if (ka === "" || kb === "") return ((ka === "") - (kb === "")) || (a - b);
      var c = numeric ? Number(ka) - Number(kb) : ka.localeCompare(kb);
      return (c * sign) || (a - b);
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
  }
  function sortBy(th) {
    var table = th.closest("table");
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    table.querySelectorAll("tbody").forEach(function (body) {
      sortBody(body, idx, dir === "ascending" ? 1 : -1);
    });
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });
}());
