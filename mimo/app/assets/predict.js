// The Predict page's behaviour in the browser (pages/predict.py runs it once per page load).
//
// 1. The drawing canvas (streamlit-drawable-canvas, in a shadow root) shows its toolbar only
//    while the mouse hovers it, which a phone never does, and offers modes that make no sense
//    here (select/move, "update the app"). A style inside its shadow root pins Undo, Redo and
//    Clear above the canvas, always visible and labelled, and hides the rest.
// 2. On a phone, the "Explain" parts start folded (they start open on wide screens).
//
// Streamlit's HTML sanitizer drops a script whose text has a "less than" sign followed by a
// letter, a slash or "!" (it could close the script): none may appear in this file.
(() => {
  if (window.mimoPredictBehaviour) return;
  window.mimoPredictBehaviour = true;

  const CANVAS_HOST = ".st-key-canvas [data-testid='stBidiComponentIsolated']";
  const STYLE_ID = "mimo-canvas-toolbar";
  const CLEAR_LABEL = "Clear (reset canvas & history)";
  const NARROW = window.matchMedia("(max-width: 640px)");
  const EXPLANATIONS = ".st-key-color-model-explanation details, .st-key-sum-model-explanation details";
  // The library's own rules are an adopted style sheet, which wins over a style element of the
  // same specificity: hence !important.
  const TOOLBAR_CSS = `
    .dc-root { display: flex !important; flex-direction: column !important; }
    .dc-toolbar { order: -1 !important; position: static !important; opacity: 1 !important;
                  transition: none !important; padding: 0 0 0.5rem 0 !important;
                  justify-content: flex-start !important; }
    .dc-toolbar-card { box-shadow: none !important; padding: 0 !important; gap: 0.5rem;
                       background: transparent !important; }
    .dc-icon-button[aria-label="Edit"], .dc-icon-button[aria-label="Update the app with this drawing"],
    .dc-toolbar-separator, .dc-toolbar-contextual { display: none !important; }
    .dc-icon-button { gap: 0.35rem; padding: 0.4rem 0.75rem !important; min-height: 2.25rem;
                      font: inherit; font-size: 0.875rem; line-height: 1;
                      border: 1px solid color-mix(in srgb, var(--st-text-color, #31333f) 20%, transparent) !important; }
    .dc-icon-button svg { width: 1rem !important; height: 1rem !important; }
    .dc-icon-button[aria-label="Undo"]::after { content: "Undo"; }
    .dc-icon-button[aria-label="Redo"]::after { content: "Redo"; }
    .dc-icon-button[aria-label="${CLEAR_LABEL}"]::after { content: "Clear"; }
  `;


  function styleCanvasToolbar() {
    for (const host of document.querySelectorAll(CANVAS_HOST)) {
      const root = host.shadowRoot;
      if (!root || root.getElementById(STYLE_ID)) continue;
      const style = document.createElement("style");
      style.id = STYLE_ID;
      style.textContent = TOOLBAR_CSS;
      root.appendChild(style);
      labelClearButton(root);
      // The component builds its toolbar in its own time: label it whenever it changes.
      new MutationObserver(() => labelClearButton(root)).observe(root, { childList: true, subtree: true });
    }
  }

  function labelClearButton(root) {
    const clear = root.querySelector(".dc-icon-button[aria-label='Reset canvas & history']");
    if (clear) {
      clear.setAttribute("aria-label", CLEAR_LABEL);
      clear.title = CLEAR_LABEL;
    }
  }

  function foldExplanationsOnPhones() {
    for (const details of document.querySelectorAll(EXPLANATIONS)) {
      if (details.dataset.mimoSeen) continue;
      details.dataset.mimoSeen = "1";
      if (NARROW.matches && details.open) details.querySelector("summary")?.click();
    }
  }

  function apply() {
    styleCanvasToolbar();
    foldExplanationsOnPhones();
  }

  apply();
  new MutationObserver(apply).observe(document.body, { childList: true, subtree: true });
})();
