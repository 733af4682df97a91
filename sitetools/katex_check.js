// Renders each formula with the site's vendored KaTeX, as the browser would; prints the errors.
// Input (stdin): JSON [{"tex": "...", "display": true}, ...]. Output (stdout): JSON list with,
// for each formula, null or KaTeX's error message. Usage: node katex_check.js path/to/katex.min.js
"use strict";
const katex = require(process.argv[2]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map(({ tex, display }) => {
    try {
      katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "ignore" });
      return null;
    } catch (error) {
      return error && error.message ? error.message : String(error);
    }
  });
  process.stdout.write(JSON.stringify(results));
});
