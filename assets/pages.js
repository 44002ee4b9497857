/* Overview and Security: clientside callbacks (dashboard/web/pages/overview.py, security.py), where
   the browser holds everything the answer needs and a round trip to the server would add nothing. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    auditdashPages: {
        /* The gate before a page's own callback: the shell draws the page in its answer to a change
           (dashboard/web/components/page_view.py), so the `filters` store goes on to the page's
           callback only when the page does not show the store's view already. */
        needsView: function (filters, shown) {
            if (!filters) {
                return window.dash_clientside.no_update;
            }
            if (shown && filters.view !== undefined && shown.view === filters.view) {
                return window.dash_clientside.no_update;
            }
            return filters;
        },

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
