// Journal auto-refresh (autorefresh.js): the table's rows (journal/rows, same filters) swapped in when newer.
"use strict";
window.lbmockAutoRefresh(document.getElementById("journal"), (fresh, status) => {
  const current = document.getElementById("journal-rows");
  if (!current || fresh.dataset.newest === current.dataset.newest) return;
  // keep open "variables" panels open across the swap
  const open = new Set(Array.from(current.querySelectorAll("tr[data-seq] details[open]"),
    (d) => d.closest("tr").dataset.seq));
  fresh.querySelectorAll("tr[data-seq]").forEach((row) => {
    if (open.has(row.dataset.seq)) row.querySelector("details")?.setAttribute("open", "");
  });
  current.replaceWith(fresh);
  status.textContent = Number(fresh.dataset.count).toLocaleString("en") + " matching request(s), newest first.";
});
