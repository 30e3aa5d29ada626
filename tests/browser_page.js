// Injected into every page of the browser test (tests/test_browser.py): input timestamps and explorer probes.
(() => {
  const S = (window.__samlab = { inputs: [], watch: null });
  const note = (e) => {
    if (e.type === "pointermove" && !e.buttons) return; // only moves while dragging
    S.inputs.push(performance.now());
    if (S.inputs.length > 5000) S.inputs.splice(0, 2500);
  };
  for (const type of ["keydown", "pointerdown", "pointermove", "pointerup", "change", "input", "click"]) {
    window.addEventListener(type, note, true);
  }

  // The explorers: an ipywidgets Output inside a VBox that also holds controls (sliders, dropdowns, buttons).
  // The figure is the box's last Output (samlab's explorers put a progress Output for prints before it).
  S.tagExplorers = (notebook) => {
    const found = [];
    document.querySelectorAll(`${notebook} .widget-vbox`).forEach((box) => {
      const out = [...box.children].filter((c) => c.classList.contains("widget-output")).pop();
      if (!out) return;
      const controls = [...box.querySelectorAll(".widget-slider, .widget-dropdown, .widget-checkbox, .jupyter-button")]
        .filter((c) => !out.contains(c));
      if (!controls.length) return;
      const i = found.length;
      box.dataset.samlabExplorer = String(i);
      out.dataset.samlabOutput = String(i);
      found.push(
        controls.map((c, j) => {
          c.dataset.samlabControl = `${i}-${j}`;
          const label = c.querySelector(".widget-label");
          const kind = c.classList.contains("widget-slider") ? "slider"
            : c.classList.contains("widget-dropdown") ? "dropdown"
            : c.classList.contains("widget-checkbox") ? "checkbox" : "button";
          const box = kind === "checkbox" ? c.querySelector("input[type=checkbox]") : null;
          const select = c.querySelector("select");
          return {
            id: `${i}-${j}`, kind,
            description: (kind === "button" || kind === "checkbox" ? c.textContent : label ? label.textContent : "").trim(),
            readout: kind === "slider" ? (c.querySelector(".widget-readout") || {}).textContent || ""
              : kind === "dropdown" && select && select.selectedIndex >= 0 ? select.options[select.selectedIndex].text : "",
            options: select ? select.options.length : 0,
            selected: select ? select.selectedIndex : -1,
            checked: box ? box.checked : null,
            disabled: kind === "button" ? c.disabled : box ? box.disabled : !!(select && select.disabled),
          };
        })
      );
    });
    return found;
  };

  S.outputState = (i) => {
    const out = document.querySelector(`[data-samlab-output="${i}"]`);
    if (!out) return null;
    const imgs = [...out.querySelectorAll("img")];
    return { images: imgs.length, src: imgs.length ? imgs[0].src : null, text: out.innerText };
  };

  // Watch explorer i's output: the first time an image different from the current one appears, and the last mutation.
  S.arm = (i) => {
    const out = document.querySelector(`[data-samlab-output="${i}"]`);
    if (S.watch) S.watch.observer.disconnect();
    const before = S.outputState(i).src;
    const w = { before, armed: performance.now(), changedAt: null, lastMutation: performance.now(), states: 0 };
    w.observer = new MutationObserver(() => {
      const now = performance.now();
      w.lastMutation = now;
      w.states += 1;
      if (w.changedAt === null) {
        const img = out.querySelector("img");
        if (img && img.src !== before) w.changedAt = now;
      }
    });
    w.observer.observe(out, { childList: true, subtree: true, attributes: true, attributeFilter: ["src"] });
    S.watch = w;
    return true;
  };

  // What the armed watch saw: ms from the first input to the changed image, and how quiet the output is.
  S.result = () => {
    const w = S.watch;
    const now = performance.now();
    let latency = null;
    if (w.changedAt !== null) {
      // from the first input after arming: a key press, the start of a drag (a drag of a continuous slider sends
      // several values; timing from the last one would credit the image of an earlier one), a choice, a click
      const first = S.inputs.find((t) => t >= w.armed && t <= w.changedAt);
      if (first !== undefined) latency = w.changedAt - first;
    }
    return { changed: w.changedAt !== null, latency, quietMs: now - w.lastMutation, mutations: w.states };
  };
})();
