// Tasks auto-refresh: fetch the table's rows (tasks/rows) every 2 s and swap them in, so statuses and a
// render's "rendering N of M rows" move on without reloading the page.
"use strict";
(function () {
  const table = document.getElementById("tasks");
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
      const current = document.getElementById("task-rows");
      if (fresh && current && fresh.innerHTML !== current.innerHTML) current.replaceWith(fresh);
      status.textContent = "";
    } catch (err) {
      status.textContent = "Refresh failed: " + err;
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, 2000);
  toggle.addEventListener("change", refresh);
})();
