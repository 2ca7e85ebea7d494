// lbmock dashboard: small progressive enhancements; every page works without them (forms submit).
"use strict";

(function () {
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const labelId = viewer.dataset.labelId;
  const base = viewer.dataset.imageBase;  // /_mock/dashboard/rows/<row id>
  const windowSelect = document.getElementById("window");
  const opacity = document.getElementById("overlay-opacity");
  const opacityValue = document.getElementById("overlay-opacity-value");

  function imageUrl(plane, frame) {
    return `${base}/${plane}/${frame}/image.png?window=${encodeURIComponent(windowSelect.value)}`;
  }
  function overlayUrl(plane, frame) {
    return `${base}/${plane}/${frame}/overlay.png` + (labelId ? `?label=${encodeURIComponent(labelId)}` : "");
  }

  // Keep the address in step, so a reload or a shared link shows the same slices.
  function remember() {
    const params = new URLSearchParams(window.location.search);
    for (const slider of viewer.querySelectorAll("input[type=range][data-plane]")) {
      params.set(slider.name, slider.value);
    }
    params.set("window", windowSelect.value);
    params.set("opacity", opacity.value);
    if (labelId) params.set("label", labelId);
    history.replaceState(null, "", `${window.location.pathname}?${params}`);
  }

  function show(slider) {
    const plane = slider.dataset.plane;
    const frame = slider.value;
    document.getElementById(`frame-${plane}`).textContent = frame;
    const image = document.getElementById(`image-${plane}`);
    image.src = imageUrl(plane, frame);
    image.alt = `${plane} frame ${frame} of ${slider.max}`;
    document.getElementById(`overlay-${plane}`).src = overlayUrl(plane, frame);
  }

  function keyframes(slider) {
    return (slider.dataset.keyframes || "").split(",").filter(Boolean).map(Number);
  }

  for (const slider of viewer.querySelectorAll("input[type=range][data-plane]")) {
    slider.addEventListener("input", () => { show(slider); remember(); });
    // ] and [ jump to the next / previous keyframe of this plane.
    slider.addEventListener("keydown", (event) => {
      if (event.key !== "]" && event.key !== "[") return;
      const here = Number(slider.value);
      const marks = keyframes(slider);
      const target = event.key === "]" ? marks.find((k) => k > here) : marks.filter((k) => k < here).pop();
      event.preventDefault();
      if (target === undefined) return;
      slider.value = String(target);
      show(slider);
      remember();
    });
  }
  // Keyframe links move the slider in place instead of reloading.
  for (const link of viewer.querySelectorAll("a.jump")) {
    link.addEventListener("click", (event) => {
      const slider = document.getElementById(`slider-${link.dataset.plane}`);
      event.preventDefault();
      slider.value = link.dataset.frame;
      show(slider);
      remember();
      slider.focus();
    });
  }
  windowSelect.addEventListener("change", () => {
    for (const slider of viewer.querySelectorAll("input[type=range][data-plane]")) show(slider);
    remember();
  });
  opacity.addEventListener("input", () => {
    opacityValue.textContent = opacity.value;
    for (const overlay of viewer.querySelectorAll("img.overlay")) overlay.style.opacity = String(opacity.value / 100);
    remember();
  });
})();
