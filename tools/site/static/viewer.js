// The course site's slider viewer: each widget's frames were rendered at build time by the
// widget's own code (eelib/course/static_frames.py); a control move shows the frame whose key
// is the controls' value indices joined by "|". No kernel, no network.
(function () {
  "use strict";
  function setUp(viewer) {
    var data = JSON.parse(viewer.querySelector("script.kf-data").textContent);
    var base = viewer.getAttribute("data-base");
    var inputs = Array.prototype.slice.call(viewer.querySelectorAll(".kf-control"));
    var readout = viewer.querySelector(".kf-readout");
    var images = Array.prototype.slice.call(viewer.querySelectorAll(".kf-images img"));
    function index(input) {
      return input.type === "checkbox" ? (input.checked ? 1 : 0) : Number(input.value);
    }
    function show() {
      var key = inputs.map(index).join("|");
      var frame = data.frames[key];
      if (!frame) { throw new Error("no precomputed frame for " + key + " in viewer " + data.id); }
      inputs.forEach(function (input, k) {
        var shown = input.parentNode.querySelector("output");
        if (shown) { shown.textContent = String(data.controls[k].values[index(input)]); }
      });
      readout.textContent = frame.readout;
      images.forEach(function (img, i) { img.src = base + frame.images[i]; });
      viewer.setAttribute("data-key", key);
    }
    inputs.forEach(function (input) {
      input.addEventListener("input", show);
      input.addEventListener("change", show);
    });
    show();
  }
  Array.prototype.forEach.call(document.querySelectorAll(".kf-viewer"), setUp);
})();
