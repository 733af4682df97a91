// Loaded by mkdocs-jupyter in place of MathJax (mkdocs.yml: custom_mathjax_url).
// Without that setting every notebook page would fetch MathJax 2 from a CDN; KaTeX
// (katex-init.js) renders notebook math instead. This file intentionally does nothing.
