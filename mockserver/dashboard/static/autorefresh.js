// Auto-refresh of a server-rendered table: every 2 s (while the #auto-refresh box is ticked and the
// page is shown), fetch its body from the table's data-rows-url and hand it to the page's swap().
"use strict";
window.lbmockAutoRefresh = function (table, swap) {
  const toggle = document.getElementById("auto-refresh");
  const status = document.getElementById("refresh-status");
  if (!table || !toggle || !table.dataset.rowsUrl) return;
  let busy = false;

  async function refresh() {
    if (!toggle.checked || busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(table.dataset.rowsUrl, { headers: { Accept: "text/html" }, cache: "no-store" });
      const text = await response.text();
      if (!response.ok) {
        status.textContent = "Refresh refused: " + text;
        return;
      }
      const holder = document.createElement("table");
      holder.innerHTML = text;  // server-rendered and escaped by Jinja
      const fresh = holder.querySelector("tbody");
      if (fresh) swap(fresh, status);
    } catch (err) {
      status.textContent = "Refresh failed: " + err;
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, 2000);
  toggle.addEventListener("change", refresh);
};
