/* auditdash Explorer: clientside pieces of dashboard/web/pages/explorer.py. Served from assets/,
   so the Content-Security-Policy needs no inline script for them. */
(function () {
    "use strict";

    /* grid api -> token of the listing it shows (a new grid instance starts unknown) */
    var listings = new WeakMap();
    /* dashboard.web.ids.EX_GRID */
    var GRID_ID = "explorer-grid";

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        explorer: {
            /* A new listing (filters changed, or Reload) for a grid that already shows one: first
               page, and drop the pages the grid holds so it asks the server again. A grid made
               with the listing loads by itself. Anchors of the old listing are forgotten. */
            resetGrid: function (listing) {
                if (!listing || !window.dash_ag_grid) {
                    return window.dash_clientside.no_update;
                }
                window.dash_ag_grid.getApiAsync(GRID_ID).then(function (api) {
                    var shown = listings.get(api);
                    listings.set(api, listing.token);
                    if (shown === undefined || shown === listing.token) {
                        return;
                    }
                    if (api.paginationGetCurrentPage() !== 0) {
                        api.paginationGoToFirstPage();
                    }
                    api.purgeInfiniteCache();
                });
                return {key: null, anchors: []};
            }
        }
    });

    /* Grid cells drawn as components (never AG Grid's string expressions, which would need eval). */
    var cells = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

    cells.ExplorerOutcome = function (props) {
        var value = props.value;
        if (!value) {
            return null;
        }
        var reason = props.data && props.data.reason ? props.data.reason.replace(/_/g, " ") : "";
        return window.React.createElement(
            "span",
            {
                className: "ex-outcome-cell ex-outcome-cell--" + value,
                title: reason ? value + ": " + reason : value
            },
            value
        );
    };
})();
