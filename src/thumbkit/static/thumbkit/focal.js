/* thumbkit's focal-point widget: a click on the image sets the point (two hidden inputs),
   and each preview shows the crop the server will make, by the same rule as
   thumbkit.core.focal.window_start: the window is centred on the point, moved to hold the
   box when it fits, and kept inside the image. */
(function () {
    "use strict";

    function clamp(value, low, high) {
        return Math.min(high, Math.max(low, value));
    }

    // The crop's start on one axis, as the fraction of the spare room that object-position
    // takes ("p%" puts p% of the image at p% of the box).
    function position(center, span, scaled, window) {
        var room = scaled - window;
        if (room <= 0) {
            return 50;
        }
        var start = center * scaled - window / 2;
        if (span) {
            var low = span[0] * scaled, high = span[1] * scaled;
            if (high - low <= window) {
                start = Math.min(Math.max(start, high - window), low);
            }
        }
        return (clamp(start, 0, room) / room) * 100;
    }

    function setup(root) {
        var inputs = {};
        root.querySelectorAll("input[data-focal]").forEach(function (input) {
            inputs[input.getAttribute("data-focal")] = input;
        });
        var image = root.querySelector(".thumbkit-focal-image");
        if (!image) {
            return;
        }
        var marker = root.querySelector(".thumbkit-focal-marker");
        var label = root.querySelector(".thumbkit-focal-value");
        var previews = root.querySelectorAll(".thumbkit-focal-preview img");

        function box() {
            var parts = inputs.box.value ? inputs.box.value.split(",").map(Number) : null;
            return parts && parts.length === 4 ? parts : null;
        }

        function draw() {
            var set = inputs.x.value !== "" && inputs.y.value !== "";
            var x = set ? Number(inputs.x.value) : 0.5;
            var y = set ? Number(inputs.y.value) : 0.5;
            var b = set ? box() : null;
            marker.hidden = !set;
            marker.style.left = x * 100 + "%";
            marker.style.top = y * 100 + "%";
            label.textContent = set ? "Point: " + inputs.x.value + ", " + inputs.y.value : "No point: crops keep the centre.";
            previews.forEach(function (img) {
                var width = img.parentNode.clientWidth, height = img.parentNode.clientHeight;
                var natural = [image.naturalWidth, image.naturalHeight];
                var scale = Math.max(width / natural[0], height / natural[1]);
                var px = position(x, b && [b[0], b[2]], natural[0] * scale, width);
                var py = position(y, b && [b[1], b[3]], natural[1] * scale, height);
                img.style.objectPosition = px + "% " + py + "%";
            });
        }

        image.addEventListener("click", function (event) {
            var rect = image.getBoundingClientRect();
            var round = function (v) { return String(Math.round(clamp(v, 0, 1) * 10000) / 10000); };
            inputs.x.value = round((event.clientX - rect.left) / rect.width);
            inputs.y.value = round((event.clientY - rect.top) / rect.height);
            inputs.box.value = "";  // a box drawn for the old point no longer describes it
            draw();
        });
        root.querySelector(".thumbkit-focal-clear").addEventListener("click", function () {
            inputs.x.value = inputs.y.value = inputs.box.value = "";
            draw();
        });
        if (image.complete && image.naturalWidth) {
            draw();
        } else {
            image.addEventListener("load", draw);
        }
    }

    function start() {
        document.querySelectorAll(".thumbkit-focal").forEach(setup);
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
