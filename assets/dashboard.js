/* auditdash shell: clientside callbacks (dashboard/web/layout.py). Served from assets/, so the
   Content-Security-Policy needs no inline-script hash for them. */

/* The browser's zone, for the server: a page's layout draws the view its link names, and a link
   without `tz` means this zone (dashboard/web/components/page_view.py). Written before the
   renderer's first request; an IANA name needs no escaping in a cookie. */
(function () {
    try {
        var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
        if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
            document.cookie = "auditdash_tz=" + zone + "; path=/; SameSite=Lax";
        }
    } catch (e) {
        /* no zone: the layout draws UTC and the page's callback redraws it */
    }
})();
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    auditdash: {
        /* The browser's IANA zone, read once: the default zone of a link that names none. */
        browserZone: function (_pathname, current) {
            if (current) {
                return window.dash_clientside.no_update;
            }
            try {
                return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
            } catch (e) {
                return "UTC";
            }
        },

        /* Apply the URL the shell wants: pushState for a change the user made (Back undoes it),
           replaceState when only tidying a link (so Back never lands on a self-rewriting page).
           Returning the query keeps dcc.Location's prop equal to the address bar. */
        writeUrl: function (target) {
            if (!target || typeof target.search !== "string") {
                return window.dash_clientside.no_update;
            }
            var loc = window.location;
            var next = loc.pathname + target.search + loc.hash;
            if (next !== loc.pathname + loc.search + loc.hash) {
                if (target.push) {
                    window.history.pushState({}, "", next);
                } else {
                    window.history.replaceState(window.history.state, "", next);
                }
            }
            return target.search;
        },

        /* Navigation links keep the query string, so the filters follow the user between pages. */
        navLinks: function (pathname, search, linkIds) {
            var path = pathname || "/";
            var hrefs = linkIds.map(function (id) {
                return id.path + (search || "");
            });
            var active = linkIds.map(function (id) {
                if (id.path === "/") {
                    return path === "/";
                }
                return path === id.path || path.indexOf(id.path + "/") === 0;
            });
            return [hrefs, active];
        },

        /* Pages such as /wall take the whole window: no navigation, no sidebar. */
        shellClass: function (pathname, bare, nofilters, filterPaths) {
            var path = pathname || "/";
            var under = function (p) {
                return path === p || path.indexOf(p + "/") === 0;
            };
            if ((bare || []).some(under)) {
                return "ad-shell ad-shell--bare";
            }
            // the sidebar only where it acts: pages that read it (not a refusal, nor "page not found")
            var acts = !filterPaths || filterPaths.some(function (p) {
                return path === p || path === p + "/";
            });
            // pages with their own controls: the sidebar's filters would be claimed but not applied
            return !acts || (nofilters || []).some(under) ? "ad-shell ad-shell--nofilters" : "ad-shell";
        }
    }
});
