// The joint-attention explorer of lessons 3 and 4 (artifacts/digits/attention_explorer.py).
//
// The producer stored, for one caption and one noise, every block's attention probabilities
// (per head and averaged over heads) at four times of the sampling path, as bytes, and for
// every query the shares and the strongest key that the sentences quote. This draws the stored
// probabilities (the brightest cell of a row is that row's largest probability) and prints the
// stored shares; the only arithmetic here is the drawing's scale.
//
// Point at a word (hover, focus or tap) to see where it looks on the canvas; point at a patch
// to see which words and which patches it reads. Patches are one tab stop: the arrow keys move
// between them (explorableGridKeys in explorables.js).
(function () {
  "use strict";

  var instances = 0;

  function pct(value) {
    return Math.round(value * 100) + "%";
  }

  var make = window.explorableElement;

  function decode(base64) {
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  window.explorables.attention = function (element, data) {
    instances += 1;
    var bytes = decode(data.attention);
    var shape = data.shape; // [times, blocks, 1 + heads, L, L]
    var L = shape[3];
    var nText = data.words.length;
    var rows = data.grid[0];
    var cols = data.grid[1];
    var state = {
      time: Math.min(2, data.times.length - 1),
      block: 0,
      head: 0,
      query: nText - 1, // the last word: a digit word in every phrasing but one
    };

    function at(t, b, h) {
      return (((t * shape[1] + b) * shape[2] + h) * L) * L;
    }
    function probability(row, column) {
      return bytes[at(state.time, state.block, state.head) + row * L + column] / 255;
    }
    function summary() {
      return data.summary[state.time][state.block][state.head];
    }
    // Drawn on a square-root scale of the share of the largest, so that small shares still
    // show against one large one; the sentences quote the shares themselves.
    function colour(value) {
      var stops = data.colours;
      var level = Math.sqrt(Math.max(0, value));
      return stops[Math.min(stops.length - 1, Math.round(level * (stops.length - 1)))];
    }
    function place(index) {
      var r = Math.floor(index / cols);
      var c = index % cols;
      return {
        text: "row " + (r + 1) + ", column " + (c + 1),
        half: c < cols / 2 ? "left" : "right",
      };
    }

    element.classList.add("is-live");
    var live = make("div", "attention__live");

    var controls = make("div", "attention__controls");
    controls.appendChild(
      window.explorableRadios(
        "attention__choice",
        "Time on the " + data.steps + "-step path",
        "attention-time-" + instances,
        data.times.map(function (t, i) {
          return { value: i, label: "t = " + t.toFixed(2), checked: i === state.time };
        })
      )
    );
    controls.appendChild(
      window.explorableRadios(
        "attention__choice",
        "Block (" + data.block_name + "s)",
        "attention-block-" + instances,
        data.summary[0].map(function (_, i) {
          return { value: i, label: String(i + 1), checked: i === state.block };
        })
      )
    );
    var heads = [{ value: 0, label: "mean", checked: true }];
    for (var h = 1; h <= data.heads; h++) heads.push({ value: h, label: String(h), checked: false });
    controls.appendChild(
      window.explorableRadios("attention__choice", "Head", "attention-head-" + instances, heads)
    );
    live.appendChild(controls);

    var wordsRow = make("div", "attention__words");
    wordsRow.setAttribute("role", "group");
    wordsRow.setAttribute("aria-label", "Caption words: point at one to see where it looks");
    var wordButtons = data.words.map(function (word, i) {
      var button = make("button", "attention__word");
      button.type = "button";
      button.setAttribute("data-index", String(i));
      button.appendChild(make("span", "attention__word-text", word));
      var bar = make("span", "attention__bar");
      bar.setAttribute("aria-hidden", "true");
      button.appendChild(bar);
      wordsRow.appendChild(button);
      return button;
    });
    live.appendChild(wordsRow);

    var panels = make("div", "attention__panels");
    // A panel: a figure holding a picture of the canvas (or, for the patches, the grid).
    function panel(content) {
      var figure = make("figure", "attention__panel");
      var caption = make("figcaption");
      figure.appendChild(content);
      figure.appendChild(caption);
      panels.appendChild(figure);
      return caption;
    }
    function picture() {
      var image = make("img", "attention__picture");
      image.width = cols * 16;
      image.height = rows * 16;
      return image;
    }
    var canvasImage = picture();
    var canvasCaption = panel(canvasImage);

    var grid = make("div", "attention__grid");
    grid.style.gridTemplateColumns = "repeat(" + cols + ", 1fr)";
    grid.setAttribute("role", "group");
    grid.setAttribute("aria-label", "Image patches, " + rows + " by " + cols + ": arrow keys move");
    var cells = [];
    for (var i = 0; i < rows * cols; i++) {
      var cell = make("button", "attention__cell");
      cell.type = "button";
      cell.setAttribute("data-index", String(i));
      cell.setAttribute("aria-label", "Patch " + place(i).text + ", " + place(i).half + " half");
      grid.appendChild(cell);
      cells.push(cell);
    }
    var heatCaption = panel(grid);

    var sceneImage = picture();
    sceneImage.src = data.scene;
    sceneImage.alt = 'The finished scene the model drew for "' + data.caption + '"';
    panel(sceneImage).textContent = "The finished scene (t = 0)";
    live.appendChild(panels);

    var matrixFigure = make("figure", "attention__matrix");
    var matrix = make("canvas");
    // Each caption token's row and column is drawn wider than a patch's, so it can be found.
    var patchPx = 6;
    var wordPx = 3 * patchPx;
    function edge(k) {
      return k <= nText ? k * wordPx : nText * wordPx + (k - nText) * patchPx;
    }
    matrix.width = edge(L);
    matrix.height = edge(L);
    matrix.setAttribute("role", "img");
    matrix.setAttribute(
      "aria-label",
      "The whole attention matrix, " + L + " by " + L + ": rows are the queries, columns the " +
        "keys, the " + nText + " caption words first, then the " + rows * cols + " patches. " +
        "The table beside it gives the share of each quadrant."
    );
    matrixFigure.appendChild(matrix);
    var quadrants = make("table", "attention__quadrants");
    matrixFigure.appendChild(quadrants);
    matrixFigure.appendChild(
      make(
        "figcaption",
        "",
        "One softmax over [caption; image]. Rows read (queries), columns are read (keys); the " +
          "wide strips are the caption's tokens, the white lines split caption from image, and " +
          "the outlined row is the token you point at. The table gives each quadrant's share " +
          "(rows summed over the quadrant, averaged over its queries)."
      )
    );
    live.appendChild(matrixFigure);

    var readout = make("p", "attention__readout");
    readout.setAttribute("aria-live", "polite");
    live.appendChild(readout);
    element.appendChild(live);

    function headLabel() {
      return state.head === 0 ? "mean of " + data.heads + " heads" : "head " + state.head;
    }

    function sentence() {
      var where = data.block_name + " " + (state.block + 1) + ", " + headLabel() +
        ", t = " + data.times[state.time].toFixed(2);
      var s = summary();
      if (state.query < nText) {
        var word = data.words[state.query];
        var w = s.words[state.query];
        var best = place(w[3]);
        var named = data.digit_halves[word];
        return '"' + word + '" (' + where + "): " + pct(w[0]) + " of its attention goes to the " +
          "caption (spread evenly, " + pct(data.uniform_text) + "). Of its attention to the " +
          "image, " + pct(w[1]) + " falls on the left half and " + pct(w[2]) + " on the right" +
          (named ? ' (the caption puts "' + word + '" on the ' + named + ")" : "") +
          ". Strongest patch: " + best.text + ".";
      }
      var index = state.query - nText;
      var p = s.patches[index];
      var me = place(index);
      var other = place(p[3]);
      return "Patch " + me.text + ", " + me.half + " half (" + where + "): " + pct(p[0]) +
        " of its attention goes to the caption (spread evenly, " + pct(data.uniform_text) +
        '), the most to "' + data.words[p[1]] + '" (' + pct(p[2]) + "). Strongest image " +
        "patch: " + other.text + ".";
    }

    function draw() {
      var row = state.query;
      var imageMax = 0;
      var textMax = 0;
      for (var k = 0; k < L; k++) {
        var v = probability(row, k);
        if (k < nText) textMax = Math.max(textMax, v);
        else imageMax = Math.max(imageMax, v);
      }
      var s = summary();
      var strongest = row < nText ? s.words[row][3] : s.patches[row - nText][3];
      cells.forEach(function (cell, index) {
        var v = probability(row, nText + index);
        cell.style.backgroundColor = colour(imageMax > 0 ? v / imageMax : 0);
        cell.classList.toggle("is-max", index === strongest);
        cell.classList.toggle("is-query", row - nText === index);
        cell.setAttribute("aria-pressed", String(row - nText === index));
      });
      wordButtons.forEach(function (button, index) {
        var v = probability(row, index);
        button.querySelector(".attention__bar").style.width =
          (textMax > 0 ? Math.round((100 * v) / textMax) : 0) + "%";
        button.setAttribute("aria-pressed", String(row === index));
      });
      var who = row < nText ? '"' + data.words[row] + '"' : "patch " + place(row - nText).text;
      heatCaption.textContent = "Where " + who + " looks on the image: dark for nothing, " +
        "yellow for its largest share (ringed)";
      canvasImage.src = data.canvases[state.time];
      canvasImage.alt = "The canvas at t = " + data.times[state.time].toFixed(2) +
        " on the path to the finished scene";
      canvasCaption.textContent = "The canvas at t = " + data.times[state.time].toFixed(2);

      var context = matrix.getContext("2d");
      var all = 0;
      for (var q = 0; q < L; q++) for (var c = 0; c < L; c++) all = Math.max(all, probability(q, c));
      for (q = 0; q < L; q++) {
        for (c = 0; c < L; c++) {
          context.fillStyle = colour(all > 0 ? probability(q, c) / all : 0);
          context.fillRect(edge(c), edge(q), edge(c + 1) - edge(c), edge(q + 1) - edge(q));
        }
      }
      context.strokeStyle = "#ffffff";
      context.lineWidth = 2;
      context.beginPath();
      context.moveTo(edge(nText), 0);
      context.lineTo(edge(nText), edge(L));
      context.moveTo(0, edge(nText));
      context.lineTo(edge(L), edge(nText));
      context.stroke();
      context.strokeStyle = "#e69f00";
      context.lineWidth = 3;
      context.strokeRect(1.5, edge(row) + 1.5, edge(L) - 3, edge(row + 1) - edge(row) - 3);

      var names = ["caption → caption", "caption → image", "image → caption", "image → image"];
      quadrants.innerHTML = "";
      var head = make("tr");
      head.appendChild(make("th", "", "quadrant"));
      head.appendChild(make("th", "", "share"));
      quadrants.appendChild(head);
      s.quadrants.forEach(function (share, k) {
        var tr = make("tr");
        tr.appendChild(make("td", "", names[k]));
        tr.appendChild(make("td", "", pct(share)));
        quadrants.appendChild(tr);
      });

      readout.textContent = sentence();
      element.setAttribute("data-query", String(row));
      element.setAttribute("data-strongest", String(strongest));
      element.setAttribute(
        "data-state",
        [state.time, state.block, state.head].join(",")
      );
    }

    function point(query) {
      if (query === state.query) return;
      state.query = query;
      draw();
    }

    wordButtons.forEach(function (button, index) {
      window.explorablePoint(button, function () {
        point(index);
      });
    });
    cells.forEach(function (cell, index) {
      window.explorablePoint(cell, function () {
        point(nText + index);
      });
    });
    window.explorableGridKeys(grid, cells, cols);
    controls.addEventListener("change", function (event) {
      var input = event.target;
      var value = Number(input.value);
      if (input.name.indexOf("attention-time-") === 0) state.time = value;
      else if (input.name.indexOf("attention-block-") === 0) state.block = value;
      else state.head = value;
      draw();
    });
    draw();
  };
})();
