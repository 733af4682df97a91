// Render math with the vendored KaTeX (docs/assets/katex/).
//
// pymdownx.arithmatex (generic: true) leaves TeX in the page, wrapped as
//   <span class="arithmatex">\( ... \)</span>   and   <div class="arithmatex">\[ ... \]</div>.
// Material's instant navigation swaps page content without re-running scripts, so rendering
// hangs off Material's `document$` observable, which emits on the first load and after every
// instant navigation.
//
// Errors are not swallowed: auto-render reports a TeX error with console.error and leaves the
// source in place, and the browser smoke test fails on any console error.
(function () {
  "use strict";

  var ARITHMATEX_DELIMITERS = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];

  // Notebook pages (mkdocs-jupyter) keep Jupyter's $...$ / $$...$$ in Markdown cells.
  var NOTEBOOK_DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "$", right: "$", display: false },
  ].concat(ARITHMATEX_DELIMITERS);

  function render(root) {
    root.querySelectorAll(".arithmatex").forEach(function (element) {
      renderMathInElement(element, { delimiters: ARITHMATEX_DELIMITERS });
    });
    root
      .querySelectorAll(".jupyter-wrapper .jp-RenderedMarkdown")
      .forEach(function (element) {
        renderMathInElement(element, { delimiters: NOTEBOOK_DELIMITERS });
      });
  }

  document$.subscribe(function () {
    render(document.body);
  });
})();
