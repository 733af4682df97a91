// Show that a code block or a table goes on sideways (styles in site.css, "Scroll hints").
//
// A box that scrolls sideways hides its right-hand part without a sign, and a reader takes the
// cut for the end of the line or of the table. Each such box gets `scroll-hint-right` while
// there is more to its right and `scroll-hint-left` once it has been scrolled; the stylesheet
// fades the edge where more is hidden. The scrolling element is `pre > code` for code (the hint
// is drawn on its `pre`, which does not scroll) and Material's `.md-typeset__scrollwrap` for
// tables. Updated on page load and instant navigation (Material's `document$`), on scroll, on
// resize, and when a <details> opens.
(function () {
  "use strict";

  var SCROLLERS = ".md-typeset pre > code, .md-typeset .md-typeset__scrollwrap";

  function update(scroller) {
    var hidden = scroller.scrollWidth - scroller.clientWidth;
    var target = scroller.matches("pre > code") ? scroller.parentElement : scroller;
    target.classList.toggle("scroll-hint-right", hidden > 1 && scroller.scrollLeft < hidden - 1);
    target.classList.toggle("scroll-hint-left", hidden > 1 && scroller.scrollLeft > 1);
  }

  function updateAll() {
    document.querySelectorAll(SCROLLERS).forEach(update);
  }

  var pending = null;
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(updateAll, 60);
  }

  document$.subscribe(soon);
  window.addEventListener("resize", soon);
  document.addEventListener("toggle", soon, true); // toggle does not bubble: capture it
  document.addEventListener(
    "scroll",
    function (event) {
      if (event.target instanceof Element && event.target.matches(SCROLLERS)) update(event.target);
    },
    { capture: true, passive: true } // scroll does not bubble either
  );
})();
