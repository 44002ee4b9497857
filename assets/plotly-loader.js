/* plotly.js for the charts, fetched when the first chart is drawn. dcc.Graph takes `window.Plotly`
   when it is there (Dash's own loader: `Promise.resolve(window.Plotly || <load Dash's
   plotly.min.js>)`), so `window.Plotly` starts as a thenable that loads the partial bundle shipped
   in assets/vendor/plotly/ (only the trace types the pages draw: 1.4 MB, about 0.3 s to evaluate,
   against 4.8 MB and 1 to 2 s for Dash's full bundle; scripts/build-plotly-bundle.sh rebuilds it).
   The bundle's own `var Plotly` then replaces the thenable with plotly.js itself. A page without
   charts (the Explorer) never loads it. The app leaves the bundle out of the scripts every page
   loads (`assets_ignore` in dashboard/web/app.py). */
(function () {
    "use strict";
    if (window.Plotly) {
        return;
    }
    var here = document.currentScript && document.currentScript.src;
    var src = (here ? here.replace(/[^/]*$/, "") : "/assets/") + "vendor/plotly/plotly-auditdash.min.js";
    var loading = null;

    function load() {
        if (loading === null) {
            loading = new Promise(function (resolve, reject) {
                var script = document.createElement("script");
                script.src = src;
                script.async = true;
                script.onload = function () {
                    skipSameSize(window.Plotly);
                    resolve(window.Plotly);
                };
                script.onerror = function () {
                    loading = null;
                    reject(new Error("plotly.js could not be loaded from " + src));
                };
                document.head.appendChild(script);
            });
        }
        return loading;
    }

    /* dcc.Graph asks plotly.js to fit a chart again whenever the chart's element or its parent
       changes size, and plotly.js then draws the whole chart again 100 ms later. A chart whose own
       height changed with its figure (a heatmap with more people, a chart that became empty) set
       that size itself: it already has it, and drawing it again only cost 50-150 ms after every
       such change. A resize to the size the chart has is answered at once; any other (the window,
       the sidebar) goes on to plotly.js. */
    function skipSameSize(plotly) {
        var plots = plotly && plotly.Plots;
        if (!plots || typeof plots.resize !== "function" || plots.resize.auditdashSameSize) {
            return;
        }
        var resize = plots.resize;
        /* charts with a resize passed on to plotly.js and not answered yet: later ones go on too
           (plotly.js folds them into one drawing at the last size) */
        var passed = new WeakSet();
        var sameSize = function (gd) {
            var el = typeof gd === "string" ? document.getElementById(gd) : gd;
            var full = el && el._fullLayout;
            if (full && el.layout && !passed.has(el) && el.offsetParent !== null) {
                var style = window.getComputedStyle(el);
                var width = parseFloat(style.width);
                var height = parseFloat(style.height);
                if (Math.abs(width - full.width) <= 1 && Math.abs(height - full.height) <= 1) {
                    return Promise.resolve(el);
                }
            }
            var answer = resize.apply(this, arguments);
            if (el && answer && typeof answer.then === "function") {
                passed.add(el);
                var done = function () {
                    passed.delete(el);
                };
                answer.then(done, done);
            }
            return answer;
        };
        sameSize.auditdashSameSize = true;
        plots.resize = sameSize;
    }

    window.Plotly = {
        then: function (resolve, reject) {
            return load().then(resolve, reject);
        }
    };
})();
