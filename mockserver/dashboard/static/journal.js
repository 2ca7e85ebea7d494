// Journal auto-refresh: fetch the table's rows (journal/rows, same filters) every 2 s and swap them in.
"use strict";
(function () {
  const table = document.getElementById("journal");
  const toggle = document.getElementById("auto-refresh");
  const status = document.getElementById("refresh-status");
  if (!table || !toggle) return;
  const url = table.dataset.rowsUrl;
  let busy = false;

  async function refresh() {
    if (!toggle.checked || busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
      const text = await response.text();
      if (!response.ok) {
        status.textContent = "Refresh refused: " + text;
        return;
      }
      const holder = document.createElement("table");
      holder.innerHTML = text;  // server-rendered and escaped by Jinja
      const fresh = holder.querySelector("tbody");
      const current = document.getElementById("journal-rows");
      if (fresh && current && fresh.dataset.newest !== current.dataset.newest) {
        // keep open "variables" panels open across the swap
        const open = new Set(Array.from(current.querySelectorAll("tr[data-seq] details[open]"),
          (d) => d.closest("tr").dataset.seq));
        fresh.querySelectorAll("tr[data-seq]").forEach((row) => {
          if (open.has(row.dataset.seq)) row.querySelector("details")?.setAttribute("open", "");
        });
        current.replaceWith(fresh);
        status.textContent = Number(fresh.dataset.count).toLocaleString("en") + " matching request(s), newest first.";
      }
    } catch (err) {
      status.textContent = "Refresh failed: " + err;
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, 2000);
  toggle.addEventListener("change", refresh);
})();
