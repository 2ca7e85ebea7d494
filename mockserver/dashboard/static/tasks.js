// Tasks auto-refresh (autorefresh.js): statuses and a render's "rendering N of M rows" move on without a reload.
"use strict";
window.lbmockAutoRefresh(document.getElementById("tasks"), (fresh, status) => {
  const current = document.getElementById("task-rows");
  if (current && fresh.innerHTML !== current.innerHTML) current.replaceWith(fresh);
  status.textContent = "";
});
