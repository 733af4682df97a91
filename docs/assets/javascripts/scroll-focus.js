// Keyboard access to every region that scrolls sideways (axe: scrollable-region-focusable).
//
// A code block or a wide table that scrolls inside its own box cannot be scrolled with the
// keyboard unless it can take focus. Material wraps tables in .md-typeset__scrollwrap from its
// own scripts, so the check runs after that, on every page load and instant navigation
// (Material's `document$`), again when the window is resized, and when a <details> opens (a code
// block inside a closed one has no width to measure until then).
(function () {
  "use strict";

  var SCROLLERS = "pre, pre > code, .md-typeset__scrollwrap, .highlight-ipynb";

  function makeScrollersFocusable() {
    document.querySelectorAll(SCROLLERS).forEach(function (element) {
      var scrolls =
        element.scrollWidth > element.clientWidth || element.scrollHeight > element.clientHeight;
      var overflow = getComputedStyle(element).overflowX + getComputedStyle(element).overflowY;
      if (scrolls && /auto|scroll/.test(overflow) && !element.hasAttribute("tabindex")) {
        element.setAttribute("tabindex", "0");
      }
    });
  }

  var pending = null;
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(makeScrollersFocusable, 50);
  }

  document$.subscribe(soon);
  window.addEventListener("resize", soon);
  document.addEventListener("toggle", soon, true); // toggle does not bubble: capture it
})();
