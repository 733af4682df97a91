// The position-id explorer of lesson 4 (artifacts/z_image/rope_explorer.py).
//
// The producer stored, for each caption length and image size, the 3D RoPE ids that
// snippets.rope gives every caption token and every patch, padding included. This draws them
// and, for the token you point at, marks the tokens that hold the same id on the chosen axis:
// an equality test on the stored ids, which the browser test holds to the Python's counts.
(function () {
  "use strict";

  var instances = 0;
  var CAPTION_COLUMNS = 8;

  var make = window.explorableElement;

  window.explorables["rope-ids"] = function (element, data) {
    instances += 1;
    var choice = { caption: 1, image: 1, axis: 0, group: "caption", index: 0 };
    var captions = [];
    var grids = [];
    data.states.forEach(function (s) {
      if (captions.indexOf(s.caption_tokens) < 0) captions.push(s.caption_tokens);
      var grid = s.rows + " × " + s.columns;
      if (grids.indexOf(grid) < 0) grids.push(grid);
    });

    element.classList.add("is-live");
    var live = make("div", "rope-ids__live");
    var controls = make("div", "rope-ids__controls");
    controls.appendChild(
      window.explorableRadios("rope-ids__choice", "Caption", "rope-caption-" + instances,
        captions.map(function (n, i) {
          return { value: i, label: n + " tokens", checked: i === choice.caption };
        }))
    );
    controls.appendChild(
      window.explorableRadios("rope-ids__choice", "Image", "rope-image-" + instances,
        grids.map(function (g, i) {
          return { value: i, label: g + " patches", checked: i === choice.image };
        }))
    );
    controls.appendChild(
      window.explorableRadios("rope-ids__choice", "Same id on", "rope-axis-" + instances,
        data.axes.map(function (a, i) {
          return { value: i, label: a, checked: i === choice.axis };
        }))
    );
    live.appendChild(controls);
    var board = make("div", "rope-ids__board");
    live.appendChild(board);
    var readout = make("p", "rope-ids__readout");
    readout.setAttribute("aria-live", "polite");
    live.appendChild(readout);
    element.appendChild(live);

    function state() {
      return data.states[choice.caption * grids.length + choice.image];
    }
    function idsOf(s, group, index) {
      return group === "caption" ? s.caption[index] : s.image[index];
    }
    function label(s, group, index) {
      var ids = idsOf(s, group, index);
      var triple = "(" + ids.join(", ") + ")";
      if (group === "caption") {
        return (index < s.caption_tokens ? "caption token " : "caption padding token ") +
          (index + 1) + " at " + triple;
      }
      var real = s.rows * s.columns;
      if (index >= real) return "padding patch " + (index - real + 1) + " at " + triple;
      return "patch row " + (Math.floor(index / s.columns) + 1) + ", column " +
        ((index % s.columns) + 1) + " at " + triple;
    }

    var buttons = [];

    function group(title, s, name, indices, columns, padding) {
      var section = make("div", "rope-ids__group");
      section.appendChild(make("p", "rope-ids__title", title));
      var cells = make("div", "rope-ids__cells");
      cells.setAttribute("role", "group");
      cells.setAttribute("aria-label", title + ": arrow keys move");
      cells.style.gridTemplateColumns = "repeat(" + columns + ", minmax(0, 1fr))";
      var own = indices.map(function (index) {
        var ids = idsOf(s, name, index);
        var button = make("button", "rope-ids__token" + (padding(index) ? " is-padding" : ""),
          ids.join(","));
        button.type = "button";
        button.setAttribute("aria-label", label(s, name, index));
        button.setAttribute("data-group", name);
        button.setAttribute("data-index", String(index));
        window.explorablePoint(button, function () {
          if (choice.group === name && choice.index === index) return;
          choice.group = name;
          choice.index = index;
          mark();
        });
        cells.appendChild(button);
        buttons.push(button);
        return button;
      });
      window.explorableGridKeys(cells, own, columns);
      section.appendChild(cells);
      board.appendChild(section);
    }

    function range(from, to) {
      var out = [];
      for (var i = from; i < to; i++) out.push(i);
      return out;
    }

    function draw() {
      var s = state();
      board.innerHTML = "";
      buttons = [];
      var real = s.rows * s.columns;
      group("Caption: " + s.caption_tokens + " tokens, padded to " + s.caption.length, s,
        "caption", range(0, s.caption.length), CAPTION_COLUMNS, function (i) {
          return i >= s.caption_tokens;
        });
      group("Image: " + s.rows + " × " + s.columns + " patches", s, "image", range(0, real),
        s.columns, function () {
          return false;
        });
      if (s.image.length > real) {
        group("Image padding: " + (s.image.length - real) + " patches", s, "image",
          range(real, s.image.length), CAPTION_COLUMNS, function () {
            return true;
          });
      }
      var limit = choice.group === "caption" ? s.caption.length : s.image.length;
      if (choice.index >= limit) choice.index = 0;
      mark();
    }

    function mark() {
      var s = state();
      var me = idsOf(s, choice.group, choice.index);
      var shared = [0, 0, 0];
      buttons.forEach(function (button) {
        var name = button.getAttribute("data-group");
        var index = Number(button.getAttribute("data-index"));
        var ids = idsOf(s, name, index);
        var self = name === choice.group && index === choice.index;
        for (var axis = 0; axis < 3; axis++) {
          if (!self && ids[axis] === me[axis]) shared[axis] += 1;
        }
        button.classList.toggle("is-chosen", self);
        button.classList.toggle("is-shared", !self && ids[choice.axis] === me[choice.axis]);
        button.setAttribute("aria-pressed", String(self));
      });
      var who = label(s, choice.group, choice.index);
      readout.textContent = who.charAt(0).toUpperCase() + who.slice(1) + ". Other tokens " +
        "with the same id, padding included: " + shared[0] + " on the first axis, " +
        shared[1] + " on the row, " + shared[2] + " on the column. Marked: the same " +
        data.axes[choice.axis] + " id, where that axis's rotation is the same for both tokens.";
      element.setAttribute("data-shared", shared.join(","));
      element.setAttribute("data-marked",
        String(board.querySelectorAll(".rope-ids__token.is-shared").length));
      element.setAttribute("data-chosen", choice.group + ":" + choice.index);
    }

    controls.addEventListener("change", function (event) {
      var input = event.target;
      var value = Number(input.value);
      if (input.name.indexOf("rope-caption-") === 0) choice.caption = value;
      else if (input.name.indexOf("rope-image-") === 0) choice.image = value;
      else {
        choice.axis = value;
        mark();
        return;
      }
      draw();
    });
    draw();
  };
})();
