// Code blocks that read on any screen (styles in site.css, "Code blocks on narrow screens").
//
// 1. Doctest output wraps; code does not. In a block of `>>>` examples, every line that is not
//    input (`>>>` or `...`) is output. Each output line's nodes are wrapped in
//    <span class="doctest-output">, which the stylesheet lets wrap at the box's edge with a
//    hanging indent, so a long repr or error message is read in full instead of hiding behind a
//    sideways scroll. Code lines keep their layout (a wrapped Python line would read as two).
//    Only the view changes: the text is the same, and so is what the copy button copies
//    (Material copies the block's innerText, which soft wraps do not change).
// 2. The copy button never covers code. Material floats its copy button over the block's top
//    right corner; when a line under it reaches that far (on a phone nearly every block), the
//    block gets the class `code-below-nav`, whose top padding starts the code below the button.
//
// Runs on every page load and instant navigation (Material's `document$`), when the window is
// resized, and when a <details> opens (a block inside a closed one has no size until then).
// Load it before scroll-focus.js, which measures the blocks after this has wrapped them.
(function () {
  "use strict";

  var INPUT = /^(>>>|\.\.\.)( |$)/;

  // The block's top-level nodes, line by line. Each newline among them is made a text node of
  // its own, which separates the lines.
  // A newline inside an element (a multi-line string) stays in that line's nodes.
  function linesOf(code) {
    Array.prototype.slice.call(code.childNodes).forEach(function (node) {
      while (node && node.nodeType === Node.TEXT_NODE && node.nodeValue !== "\n") {
        var at = node.nodeValue.indexOf("\n");
        if (at < 0) break;
        var newline = at > 0 ? node.splitText(at) : node;
        node = newline.nodeValue.length > 1 ? newline.splitText(1) : null;
      }
    });
    var lines = [[]];
    Array.prototype.slice.call(code.childNodes).forEach(function (node) {
      if (node.nodeType === Node.TEXT_NODE && node.nodeValue === "\n") lines.push([]);
      else lines[lines.length - 1].push(node);
    });
    return lines;
  }

  function wrapOutput(code) {
    if (code.hasAttribute("data-output-wrapped")) return;
    code.setAttribute("data-output-wrapped", "");
    if (!/^>>>/m.test(code.textContent)) return;
    var lines = linesOf(code);
    var texts = lines.map(function (nodes) {
      return nodes.map(function (node) { return node.textContent; }).join("");
    });
    if (!texts.some(function (text) { return text.indexOf(">>>") === 0; })) return;
    lines.forEach(function (nodes, index) {
      var text = texts[index];
      if (!text.trim() || INPUT.test(text) || text.indexOf("\n") >= 0) return;
      var span = document.createElement("span");
      span.className = "doctest-output";
      code.insertBefore(span, nodes[0]);
      nodes.forEach(function (node) { span.appendChild(node); });
    });
  }

  // Does a line of the block, from its first to its last non-blank character, pass under the
  // rectangle `box` (the copy button)? Not clipped to the box: a line that runs on past the
  // right edge passes under the button when the block is scrolled.
  function textUnder(code, box) {
    var walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    var first = null;
    var last = null;
    // "under", "below" (the line starts below the button: so do the rest) or "".
    function lineUnder() {
      if (!first) return "";
      var range = document.createRange();
      range.setStart(first.node, first.offset);
      range.setEnd(last.node, last.offset);
      var rects = range.getClientRects();
      if (rects.length && rects[0].top >= box.bottom) return "below";
      for (var i = 0; i < rects.length; i++) {
        var r = rects[i];
        var x = Math.min(r.right, box.right) - Math.max(r.left, box.left);
        var y = Math.min(r.bottom, box.bottom) - Math.max(r.top, box.top);
        if (x > 0.5 && y > 0.5) return "under";
      }
      return "";
    }
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      for (var i = 0; i < node.nodeValue.length; i++) {
        var character = node.nodeValue[i];
        if (character === "\n") {
          var found = lineUnder();
          if (found) return found === "under";
          first = last = null;
        } else if (character.trim()) {
          if (!first) first = { node: node, offset: i };
          last = { node: node, offset: i + 1 };
        }
      }
    }
    return lineUnder() === "under";
  }

  function clearCopyButtons() {
    var blocks = [];
    document.querySelectorAll(".md-typeset pre > .md-code__nav").forEach(function (nav) {
      var code = nav.parentElement.querySelector(":scope > code");
      if (code) blocks.push({ pre: nav.parentElement, nav: nav, code: code });
    });
    // Reset all, then measure all, then set: one layout, not one per block.
    blocks.forEach(function (block) { block.pre.classList.remove("code-below-nav"); });
    blocks
      .filter(function (block) {
        var box = block.nav.getBoundingClientRect();
        return box.width > 0 && textUnder(block.code, box);
      })
      .forEach(function (block) { block.pre.classList.add("code-below-nav"); });
  }

  function run() {
    document.querySelectorAll(".md-typeset pre > code").forEach(wrapOutput);
    clearCopyButtons();
  }

  var pending = null;
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(clearCopyButtons, 50);
  }

  document$.subscribe(run);
  window.addEventListener("resize", soon);
  document.addEventListener("toggle", soon, true); // toggle does not bubble: capture it
})();
