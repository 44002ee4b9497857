/* auditdash sign-in (dashboard/web/auth.py): when a session ends while a page is open (idle or
   absolute timeout, sign-out in another tab, an administrator ended it), Dash's requests get
   401; go to the sign-in form, which brings the user back here afterwards. A page made for the
   callbacks of an earlier version reloads itself (`checkBuild`). Served from assets/,
   so the Content-Security-Policy needs no inline script for it. The CSRF token needs no script:
   Dash's renderer sends the `_csrf_token` cookie back as the X-CSRFToken header by itself. */
(function () {
    "use strict";
    var originalFetch = window.fetch;
    if (!originalFetch) {
        return;
    }
    var leaving = false;
    /* The build of the server's callbacks this page was made with (the X-Auditdash-Build header of
       its first answer from Dash's routes, dashboard/web/auth.py `_build`). After an upgrade that
       changed them the server refuses the page's requests: the page reloads itself, once per build
       (a page left open, such as the wall screen, would otherwise stay as it was). */
    var BUILD_HEADER = "X-Auditdash-Build";
    var RELOADED_KEY = "auditdash-reloaded-for-build";
    var build = null;

    function checkBuild(response) {
        var seen = response.headers.get(BUILD_HEADER);
        if (!seen || leaving) {
            return;
        }
        if (build === null) {
            build = seen;
            return;
        }
        if (seen === build) {
            return;
        }
        try {
            if (window.sessionStorage.getItem(RELOADED_KEY) === seen) {
                return;
            }
            window.sessionStorage.setItem(RELOADED_KEY, seen);
        } catch (e) {
            return; /* no storage: a reload could not tell it already happened */
        }
        leaving = true;
        window.location.reload();
    }

    window.fetch = function () {
        return originalFetch.apply(this, arguments).then(function (response) {
            var url;
            try {
                url = new URL(response.url, window.location.href);
            } catch (e) {
                return response;
            }
            if (url.origin === window.location.origin && url.pathname.indexOf("/_dash-") === 0) {
                checkBuild(response);
            }
            if (
                response.status === 401 &&
                !leaving &&
                url.origin === window.location.origin &&
                url.pathname.indexOf("/_dash-") === 0
            ) {
                leaving = true;
                var here = window.location.pathname + window.location.search;
                window.location.assign("/login?expired=1&next=" + encodeURIComponent(here));
            }
            return response;
        });
    };
})();
