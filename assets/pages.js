/* Overview and Security: clientside callbacks (dashboard/web/pages/overview.py), where the browser
   holds everything the answer needs and a round trip to the server would add nothing. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    auditdashPages: {
        /* A timeline bar narrows the view to its period: the bar's x is the local start of its
           bucket, the chart's layout.meta.bucket_seconds its width. Local times are naive (the
           view's zone), so the arithmetic is done as if they were UTC. */
        timelinePeriod: function (click, figure) {
            var noUpdate = window.dash_clientside.no_update;
            var point = click && click.points && click.points[0];
            var width = figure && figure.layout && figure.layout.meta && figure.layout.meta.bucket_seconds;
            if (!point || point.x === undefined || point.x === null || !width) {
                return noUpdate;
            }
            var text = String(point.x).replace(" ", "T");
            if (text.length === 10) {
                text += "T00:00";
            }
            var start = Date.parse(text.slice(0, 16) + ":00Z");
            if (isNaN(start)) {
                return noUpdate;
            }
            var minutes = function (ms) {
                return new Date(ms).toISOString().slice(0, 16);
            };
            return {start: minutes(start), end: minutes(start + width * 1000), preset: null};
        }
    }
});
