/* auditdash sign-in (dashboard/web/auth.py): when a session ends while a page is open (idle or
   absolute timeout, sign-out in another tab, an administrator ended it), Dash's requests get
   401; go to the sign-in form, which brings the user back here afterwards. Served from assets/,
   so the Content-Security-Policy needs no inline script for it. The CSRF token needs no script:
   Dash's renderer sends the `_csrf_token` cookie back as the X-CSRFToken header by itself. */
(function () {
    "use strict";
    var originalFetch = window.fetch;
    if (!originalFetch) {
        return;
    }
    var leaving = false;
    window.fetch = function () {
        return originalFetch.apply(this, arguments).then(function (response) {
            var url;
            try {
                url = new URL(response.url, window.location.href);
            } catch (e) {
                return response;
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
