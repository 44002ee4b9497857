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

    window.Plotly = {
        then: function (resolve, reject) {
            return load().then(resolve, reject);
        }
    };
})();
