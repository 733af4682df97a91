// The patch-size explorer of lesson 2 (artifacts/diffusion_transformers/patch_explorer.py).
//
// The producer wrote every state's drawing and sentence; this adds two groups of radio buttons
// (latent size, patch size), native controls that the keyboard, touch and screen readers already
// know, and on every change swaps in the stored drawing and sentence of the chosen pair. The
// sentence sits in a live region, so a screen reader reads the new numbers out. Nothing is
// computed here.
(function () {
  "use strict";

  var groups = 0;

  function unique(values) {
    return values.filter(function (value, i) {
      return values.indexOf(value) === i;
    });
  }

  window.explorables["patch-grid"] = function (element, data) {
    var states = data.states;
    var figure = element.querySelector(".patch-grid__figure");
    var readout = element.querySelector(".patch-grid__readout");
    var side = Number(element.getAttribute("data-side"));
    var patch = Number(element.getAttribute("data-patch"));
    groups += 1;

    var sides = unique(states.map(function (s) { return s.side; }));
    var patches = unique(states.map(function (s) { return s.patch_size; }));
    var controls = document.createElement("div");
    controls.className = "patch-grid__controls";
    controls.appendChild(
      window.explorableRadios(
        "patch-grid__choice",
        "Latent size",
        "patch-grid-side-" + groups,
        sides.map(function (v) {
          return { value: v, label: v + " × " + v, checked: v === side };
        })
      )
    );
    controls.appendChild(
      window.explorableRadios(
        "patch-grid__choice",
        "Patch size p",
        "patch-grid-patch-" + groups,
        patches.map(function (v) {
          return { value: v, label: "p = " + v, checked: v === patch };
        })
      )
    );
    element.insertBefore(controls, element.firstChild);

    controls.addEventListener("change", function (event) {
      var input = event.target;
      if (input.name.indexOf("patch-grid-side-") === 0) side = Number(input.value);
      else patch = Number(input.value);
      var state = states.filter(function (s) {
        return s.side === side && s.patch_size === patch;
      })[0];
      element.setAttribute("data-side", String(side));
      element.setAttribute("data-patch", String(patch));
      figure.innerHTML = state.svg;
      readout.innerHTML = state.text;
    });
  };
})();
