/* auditdash Explorer: clientside pieces of dashboard/web/pages/explorer.py. Served from assets/,
   so the Content-Security-Policy needs no inline script for them. */
(function () {
    "use strict";

    /* grid api -> token of the listing it shows (a new grid instance starts unknown) */
    var listings = new WeakMap();
    /* dashboard.web.ids.EX_GRID */
    var GRID_ID = "explorer-grid";

    var NO_UPDATE = function () {
        return window.dash_clientside.no_update;
    };

    /* -- the page's state in the link's fragment: #sort=user.asc&event=123 ----------------------
       The shell owns the query (the filters); the fragment is the Explorer's. A change the user
       makes is a new history entry. Only the shell's Location (dashboard.web.ids.URL) is told
       of a new fragment: Dash's pages router would draw the whole page again for it. */
    var URL_ID = "url";
    var PAGE_PATH = "/explorer";

    /* Opened at the Explorer: AG Grid's code (a chunk dash-ag-grid loads only when the first grid
       mounts) is fetched and compiled now, off the main thread, while the page's first listing is
       made on the server, instead of after it arrives. The chunk registers itself with the
       bundle's loader, which then finds it loaded. */
    (function preloadGrid() {
        if (!window.location.pathname.endsWith(PAGE_PATH)) {
            return;
        }
        var bundle = document.querySelector('script[src*="/dash_ag_grid/dash_ag_grid"]');
        if (!bundle) {
            return;
        }
        var chunk = document.createElement("script");
        chunk.async = true;
        /* a failed fetch must not stay in the page: dash-ag-grid's loader would wait on this
           element (it looks for a script of the same address) instead of fetching the chunk */
        chunk.onerror = function () {
            chunk.remove();
        };
        chunk.src = bundle.src.replace(/\/dash_ag_grid\/[^/?#]*([?#].*)?$/, "/dash_ag_grid/async-community.js");
        document.head.appendChild(chunk);
    })();
    /* the query the shell's Location holds (it keeps it equal to the address bar) */
    var shellSearch = null;

    function tellShell() {
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props(URL_ID, {hash: window.location.hash});
        }
    }

    /* Back or Forward between two entries of this page that differ only in the fragment: the
       shell's Location takes the new fragment, and the pages router (whose query may be older
       than the address bar's) is not asked to draw the page again. Registered before Dash's
       own listeners (assets load before the renderer starts), so it can stop them. */
    window.addEventListener("popstate", function (e) {
        var loc = window.location;
        if (shellSearch === null || loc.pathname !== PAGE_PATH || loc.search !== shellSearch) {
            return;
        }
        if (!document.getElementById(GRID_ID)) {
            return;
        }
        e.stopImmediatePropagation();
        tellShell();
    });

    function fragment() {
        return new URLSearchParams(window.location.hash.replace(/^#/, ""));
    }

    function writeFragment(changes, push, state) {
        var params = fragment();
        Object.keys(changes).forEach(function (key) {
            var value = changes[key];
            if (value === null || value === undefined || value === "") {
                params.delete(key);
            } else {
                params.set(key, String(value));
            }
        });
        var text = params.toString();
        var loc = window.location;
        var next = loc.pathname + loc.search + (text ? "#" + text : "");
        if (next === loc.pathname + loc.search + loc.hash) {
            return false;
        }
        if (push) {
            window.history.pushState(state || {}, "", next);
        } else {
            window.history.replaceState(state || window.history.state, "", next);
        }
        tellShell();
        return true;
    }

    /* Open event `seq` in the detail panel: a new history entry naming it (the server opens what
       the link names). Opened from an open panel (a related event), Back returns to that one. */
    function openEvent(seq) {
        if (seq === null || seq === undefined || seq === "") {
            return;
        }
        var current = window.history.state || {};
        var depth = current.explorerEvent && fragment().get("event") ? current.explorerDepth || 1 : 0;
        if (fragment().get("event") === String(seq)) {
            // the link names it already (its panel was closed some other way): name it again
            writeFragment({event: null}, false, {});
            depth = 0;
        }
        writeFragment({event: seq}, true, {explorerEvent: String(seq), explorerDepth: depth + 1});
    }

    /* link name <-> column id of the grid's columns ("user" <-> "actor_name"; the grid's context
       holds them, from dashboard/web/components/explorer_views.py) */
    function columnsOf(api) {
        var names = ((api.getGridOption && api.getGridOption("context")) || {}).sortNames || {};
        var out = {byField: {}, byId: {}};
        Object.keys(names).forEach(function (colId) {
            out.byField[names[colId]] = colId;
            out.byId[colId] = names[colId];
        });
        return out;
    }

    /* the grid's order as the link writes it ("" for the default: newest first) */
    function sortText(api) {
        var cols = columnsOf(api);
        var sorted = (api.getColumnState() || []).filter(function (c) {
            return c.sort;
        });
        if (!sorted.length) {
            return "";
        }
        var text = (cols.byId[sorted[0].colId] || sorted[0].colId) + "." + sorted[0].sort;
        return text === "time.desc" ? "" : text;
    }

    var watched = new WeakSet();

    /* A sort the user chose (a header click) goes into the link, as a new history entry. */
    function watchSort(api) {
        if (watched.has(api)) {
            return;
        }
        watched.add(api);
        api.addEventListener("sortChanged", function () {
            var text = sortText(api);
            if ((fragment().get("sort") || "") !== text) {
                writeFragment({sort: text}, true, {});
            }
        });
    }

    /* Enter or Space on a focused row of the grid opens its event (as a click does). */
    document.addEventListener(
        "keydown",
        function (e) {
            if ((e.key !== "Enter" && e.key !== " ") || e.altKey || e.ctrlKey || e.metaKey) {
                return;
            }
            var grid = document.getElementById(GRID_ID);
            if (!grid || !e.target || !e.target.closest || !grid.contains(e.target)) {
                return;
            }
            var row = e.target.closest(".ag-row");
            var id = row && row.getAttribute("row-id");
            if (!id || !/^[0-9]+$/.test(id)) {
                return;
            }
            e.preventDefault();
            e.stopPropagation();
            openEvent(id);
        },
        true
    );

    /* listing tokens whose first page (made with the listing) has answered the grid already */
    var firstServed = {};
    var asked = 0;

    /* whether a first page (EX_FIRST) answers the grid's request for rows `start`..`end` in `sortModel` */
    function firstAnswers(first, start, end, sortModel) {
        if (!first || firstServed[first.token] || start !== 0 || end !== first.endRow) {
            return false;
        }
        var model = (sortModel || [])[0] || {colId: "occurred_at", sort: "desc"};
        return model.colId === first.sort.colId && model.sort === first.sort.sort;
    }

    /* The first page of a new listing for a grid that shows one (`resetGrid`), answered when the grid
       asks for it after the purge, without a trip through Dash's callbacks (`rowsFor`). */
    var pendingFirst = null;
    var wrapped = new WeakSet();

    /* The grid's datasource (dash-ag-grid's, which passes every request to `rowsFor`), wrapped once
       per grid so that `pendingFirst` answers the request it is for at once. Returns whether the
       grid's cache was reset by it (setting a datasource does that, as a purge does). */
    function wrapSource(api) {
        if (wrapped.has(api)) {
            return false;
        }
        wrapped.add(api);
        var inner = api.getGridOption("datasource");
        if (!inner || typeof inner.getRows !== "function") {
            return false;
        }
        api.setGridOption("datasource", {
            getRows: function (params) {
                var first = pendingFirst;
                pendingFirst = null;
                if (firstAnswers(first, params.startRow, params.endRow, params.sortModel)) {
                    firstServed[first.token] = true;
                    params.successCallback(first.response.rowData, first.response.rowCount);
                    return;
                }
                inner.getRows(params);
            },
            destroy: function () {
                if (typeof inner.destroy === "function") {
                    inner.destroy();
                }
            }
        });
        return true;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        explorer: {
            /* The grid asks for rows [start, end) in an order. The listing's first page came with the
               listing (dashboard/web/pages/explorer.py, EX_FIRST): the first request for it is answered
               here, without a round trip; every other request goes on to the server. */
            rowsFor: function (request, first, listing) {
                var no = window.dash_clientside.no_update;
                if (!request) {
                    return [no, no, no];
                }
                if (first && listing && first.token === listing.token &&
                        firstAnswers(first, request.startRow, request.endRow, request.sortModel)) {
                    firstServed[first.token] = true;
                    return [first.response, first.anchors, no];
                }
                asked += 1;
                return [no, no, {request: request, n: asked}];
            },

            /* A row or a related event was clicked: name it in the link. */
            openClicked: function (cell) {
                var ctx = window.dash_clientside.callback_context;
                var trigger = ctx && ctx.triggered_id;
                if (trigger && typeof trigger === "object") {
                    var clicked = (ctx.triggered || []).some(function (t) {
                        return t.value;
                    });
                    if (clicked) {
                        openEvent(String(trigger.seq));
                    }
                } else if (cell && cell.rowId !== undefined && cell.rowId !== null) {
                    openEvent(String(cell.rowId));
                }
                return NO_UPDATE();
            },

            /* The panel closed: back to the entry it was opened from, or drop `event=` from the link.
               Going back is for a panel the person closed (its X, Escape) on the view it was opened
               in. A new view closes it too (a value of the panel narrowed the filters): the shell is
               about to push that view's link, and going back as well would land on the old view's
               entry while the page shows the new one. Then the event is only dropped from the link. */
            panelClosed: function (isOpen, filters) {
                if (isOpen || !fragment().get("event")) {
                    return NO_UPDATE();
                }
                var state = window.history.state || {};
                var view = filters && typeof filters.view === "string" ? "?" + filters.view : null;
                var sameView = view === null || view === window.location.search;
                if (sameView && state.explorerEvent && state.explorerDepth > 0) {
                    window.history.go(-state.explorerDepth);
                } else {
                    writeFragment({event: null}, false, {});
                }
                return NO_UPDATE();
            },

            /* The query the shell's Location holds (see the popstate listener above). */
            trackSearch: function (search) {
                shellSearch = typeof search === "string" ? search : "";
                return NO_UPDATE();
            },

            /* The link's order changed (Back, Forward): the grid shows it. */
            applySort: function (hash) {
                if (!window.dash_ag_grid || !document.getElementById(GRID_ID)) {
                    return NO_UPDATE();
                }
                window.dash_ag_grid.getApiAsync(GRID_ID).then(function (api) {
                    watchSort(api);
                    var wanted = new URLSearchParams((hash || "").replace(/^#/, "")).get("sort") || "";
                    if (wanted === sortText(api)) {
                        return;
                    }
                    var cols = columnsOf(api);
                    var parts = wanted.split(".");
                    var colId = cols.byField[parts[0]];
                    var dir = parts[1];
                    if (!wanted || !colId || (dir !== "asc" && dir !== "desc")) {
                        colId = "occurred_at";
                        dir = "desc";
                    }
                    api.applyColumnState({state: [{colId: colId, sort: dir}], defaultState: {sort: null}});
                });
                return NO_UPDATE();
            },

            /* A new listing (filters changed, or Reload) for a grid that already shows one: first
               page, and drop the pages the grid holds so it asks again; its first page, made with
               the listing, answers at once. A grid made with the listing loads by itself. Anchors of
               the old listing are forgotten (those of the first page take their place). */
            resetGrid: function (listing, first) {
                if (!listing || !window.dash_ag_grid) {
                    return window.dash_clientside.no_update;
                }
                var mine = first && first.token === listing.token ? first : null;
                window.dash_ag_grid.getApiAsync(GRID_ID).then(function (api) {
                    watchSort(api);
                    var shown = listings.get(api);
                    listings.set(api, listing.token);
                    if (shown === undefined || shown === listing.token) {
                        return;
                    }
                    if (api.paginationGetCurrentPage() !== 0) {
                        api.paginationGoToFirstPage();
                    }
                    pendingFirst = mine;
                    if (!wrapSource(api)) {
                        api.purgeInfiniteCache();
                    }
                    // the listing's count is known: the pager says it at once, and only once
                    if (typeof listing.total === "number") {
                        api.setRowCount(listing.total, true);
                    }
                });
                return mine && mine.anchors ? mine.anchors : {key: null, anchors: []};
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
