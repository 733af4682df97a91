// The denoising explorer of lesson 2 (artifacts/diffusion_transformers/trajectory.py).
//
// The producer stored, for each guidance scale and each time of the 16-step schedule, the nine
// pictures (three samplers x the point, the predicted clean image, the velocity) with their alt
// texts and the sentence that describes the position. This adds a labelled slider over those
// times and two radio buttons for guidance, and swaps in what is stored. Nothing is computed here.
(function () {
  "use strict";

  var instances = 0;

  window.explorables.trajectory = function (element, data) {
    instances += 1;
    var images = element.querySelectorAll(".trajectory__table tbody td");
    var readout = element.querySelector(".trajectory__readout");
    var guidance = data.guidance[0];
    var position = 0;

    var controls = document.createElement("div");
    controls.className = "trajectory__controls";

    var label = document.createElement("label");
    label.className = "trajectory__slider";
    label.appendChild(document.createTextNode("Time t, from 1 (noise) to 0 (image) "));
    var slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = String(data.times.length - 1);
    slider.step = "1";
    slider.value = "0";
    // The training-time density goes right under the slider: the same axis, 1 to 0.
    var track = document.createElement("span");
    track.className = "trajectory__track";
    track.appendChild(slider);
    var density = element.querySelector(".trajectory__density");
    if (density) track.appendChild(density);
    label.appendChild(track);
    controls.appendChild(label);

    var fieldset = window.explorableRadios(
      "trajectory__guidance",
      "Guidance",
      "trajectory-guidance-" + instances,
      data.guidance.map(function (w, i) {
        return { value: w, label: w === "1" ? "none" : "w = " + w, checked: i === 0 };
      })
    );
    controls.appendChild(fieldset);
    element.insertBefore(controls, element.firstChild);

    function show() {
      var state = data.positions[guidance][position];
      state.cells.forEach(function (cell, i) {
        // cells run sampler by sampler; the table runs picture row by picture row
        var rows = 3;
        var columns = state.cells.length / rows;
        var td = images[(i % rows) * columns + Math.floor(i / rows)];
        if (cell.picture < 0) {
          td.textContent = cell.alt;
          td.className = "trajectory__none";
          return;
        }
        var img = td.querySelector("img");
        if (!img) {
          td.textContent = "";
          td.className = "";
          img = document.createElement("img");
          img.className = "trajectory__img";
          img.width = 64;
          img.height = 64;
          td.appendChild(img);
        }
        img.src = data.pictures[cell.picture];
        img.alt = cell.alt;
      });
      slider.setAttribute("aria-valuetext", "t = " + data.times[position].toFixed(2));
      element.setAttribute("data-position", String(position));
      element.setAttribute("data-guidance", guidance);
      readout.textContent = state.text;
    }

    slider.addEventListener("input", function () {
      position = Number(slider.value);
      show();
    });
    fieldset.addEventListener("change", function (event) {
      guidance = event.target.value;
      show();
    });
    show();
  };
})();
