// Load the site's explorable figures on the pages that hold one, when they come into view.
//
// A producer writes an explorable as ordinary HTML that already shows one state of the figure
// (the static fallback, for readers without JavaScript and for the notebooks):
//   <div class="explorable" data-explorable="NAME" data-data="generated/ARTIFACT/FILE.json">
// The JSON holds every state, computed and drawn in Python. This file is the only part every
// page loads (about a kilobyte). When an explorable comes near the viewport, it fetches the
// JSON and assets/javascripts/explorables/NAME.js (once per page load), then hands the element
// and the data to that script; so a page's first load carries only the drawn default.
//
// Material's instant navigation swaps the content without re-running scripts, so looking for
// explorables hangs off its `document$` observable, which emits on the first load and after
// every instant navigation.
(function () {
  "use strict";

  var HERE = document.currentScript.src; // <site>/assets/javascripts/explorables.js
  var SITE = new URL("../../", HERE);
  var scripts = {};

  function loadScript(name) {
    if (!scripts[name]) {
      scripts[name] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = new URL("explorables/" + name + ".js", HERE).href;
        script.onload = function () {
          resolve(window.explorables[name]);
        };
        script.onerror = function () {
          reject(new Error("could not load the explorable " + name));
        };
        document.head.appendChild(script);
      });
    }
    return scripts[name];
  }

  function setUp(element) {
    var name = element.getAttribute("data-explorable");
    var data = fetch(new URL(element.getAttribute("data-data"), SITE)).then(function (response) {
      if (!response.ok) throw new Error("explorable " + name + ": HTTP " + response.status);
      return response.json();
    });
    Promise.all([loadScript(name), data]).then(function (loaded) {
      loaded[0](element, loaded[1]);
      element.setAttribute("data-ready", "");
    }, console.error);
  }

  window.explorables = window.explorables || {};

  // The one control builder the explorables share: a fieldset of native radio buttons, which
  // the keyboard (arrow keys), touch and screen readers already know.
  //   options: [{value, label, checked}]
  window.explorableRadios = function (className, legend, name, options) {
    var fieldset = document.createElement("fieldset");
    fieldset.className = className;
    var title = document.createElement("legend");
    title.textContent = legend;
    fieldset.appendChild(title);
    options.forEach(function (option) {
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "radio";
      input.name = name;
      input.value = String(option.value);
      input.checked = Boolean(option.checked);
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + option.label));
      fieldset.appendChild(label);
    });
    return fieldset;
  };

  // A new element with a class and, if given, its text.
  window.explorableElement = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  // Pointing at a token: hover, keyboard focus or a tap all choose it.
  window.explorablePoint = function (node, choose) {
    ["mouseenter", "focus", "click"].forEach(function (type) {
      node.addEventListener(type, choose);
    });
  };

  // The other shared control: a grid of buttons that is one tab stop, the arrow keys (and Home,
  // End) moving the focus between its cells, as in a grid widget. Focus is the reader pointing.
  window.explorableGridKeys = function (container, cells, columns) {
    cells.forEach(function (cell, i) {
      cell.tabIndex = i === 0 ? 0 : -1;
      cell.addEventListener("focus", function () {
        cells.forEach(function (other) {
          other.tabIndex = -1;
        });
        cell.tabIndex = 0;
      });
    });
    container.addEventListener("keydown", function (event) {
      var index = cells.indexOf(document.activeElement);
      if (index < 0) return;
      var moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns };
      var next = index + (moves[event.key] || 0);
      if (event.key === "Home") next = 0;
      if (event.key === "End") next = cells.length - 1;
      if (next === index || next < 0 || next >= cells.length) return;
      var sideways = event.key === "ArrowLeft" || event.key === "ArrowRight";
      if (sideways && Math.floor(next / columns) !== Math.floor(index / columns)) return;
      event.preventDefault();
      cells[next].focus();
    });
  };

  var observer = new IntersectionObserver(
    function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        setUp(entry.target);
      });
    },
    { rootMargin: "200px 0px" }
  );

  document$.subscribe(function () {
    document.querySelectorAll("[data-explorable]:not([data-seen])").forEach(function (element) {
      element.setAttribute("data-seen", "");
      observer.observe(element);
    });
  });
})();
