// Render math with the vendored KaTeX (docs/assets/katex/).
//
// pymdownx.arithmatex (generic: true) leaves TeX in the page, wrapped as
//   <span class="arithmatex">\( ... \)</span>   and   <div class="arithmatex">\[ ... \]</div>.
// Material's instant navigation swaps page content without re-running scripts, so rendering
// hangs off Material's `document$` observable, which emits on the first load and after every
// instant navigation.
//
// KaTeX itself (about 270 KB of script) is loaded only by pages that hold math (and by notebook
// pages, whose Markdown cells may hold $...$), the first time one is shown; the other pages
// never fetch it.
//
// Errors are not swallowed: a formula KaTeX cannot parse stays as source and is reported with
// console.error, naming the formula and the page; the browser tests fail on any console error.
(function () {
  "use strict";

  var ARITHMATEX_DELIMITERS = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];

  // This file is assets/javascripts/katex-init.js; KaTeX is vendored in assets/katex/.
  var KATEX = new URL("../katex/", document.currentScript.src);
  var loading = null;

  function loadScript(url) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = url;
      script.onload = resolve;
      script.onerror = function () {
        reject(new Error("could not load " + url));
      };
      document.head.appendChild(script);
    });
  }

  function loadKatex() {
    if (loading === null) {
      loading = loadScript(new URL("katex.min.js", KATEX)).then(function () {
        return loadScript(new URL("contrib/auto-render.min.js", KATEX));
      });
    }
    return loading;
  }

  // Notebook pages are Markdown too (sitetools/prebuild.py): arithmatex marks their math.
  var MATH = ".arithmatex";

  // One line that names the page and the formula; the browser tests fail on it.
  function reportError(message, error) {
    var formula = message.replace(/^KaTeX auto-render: Failed to parse `|` with $/g, "");
    console.error(
      "KaTeX could not render the formula `" + formula + "` on " + location.pathname +
        ": " + (error && error.message ? error.message : error)
    );
  }

  function render(root) {
    root.querySelectorAll(".arithmatex").forEach(function (element) {
      renderMathInElement(element, {
        delimiters: ARITHMATEX_DELIMITERS,
        errorCallback: reportError,
      });
    });
  }

  document$.subscribe(function () {
    if (!document.querySelector(MATH)) return;
    loadKatex().then(function () {
      render(document.body);
    }, console.error);
  });
})();
