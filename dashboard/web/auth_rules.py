"""Who may request what: the route and role rules of docs/security.md, as pure functions.

The request guard in `dashboard.web.auth` classifies each request with these functions; they
take plain values (a path, a role, a callback id, the page registry) so the rules can be
tested without a server and read in one place.

Rules, in order:

* public: `/login`, `/login/totp`, `/logout` (each checks its own form token), `/healthz`,
  `/assets/*`, `/_dash-component-suites/*` (Dash's JavaScript bundles);
* `/api/*`: bearer tokens only, never the cookie session;
* everything else needs a session;
* `wall` may only load `/wall`, Dash's boot requests and callbacks whose outputs all have ids
  starting `wall-`;
* a page registered with `roles=(...)` (`dash.register_page(..., roles=("admin",))`) is served,
  and its callbacks run, only for those roles; callbacks writing ids that start `admin-` and
  Flask routes under `/admin/` need `admin`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PUBLIC_PATHS = frozenset({"/login", "/login/totp", "/logout", "/healthz"})
PUBLIC_PREFIXES: tuple[str, ...] = ("/assets/", "/_dash-component-suites/")
API_PREFIX = "/api/"
CALLBACK_PATH = "/_dash-update-component"
#: what every signed-in role needs to start any Dash page (no data in them)
DASH_BOOT_PATHS = frozenset({"/_dash-layout", "/_dash-dependencies", "/_favicon.ico"})
#: the Flask rules that serve Dash's index page (the page itself is chosen in the browser)
DASH_INDEX_RULES = frozenset({"/", "/<path:path>"})
WALL_ROLE = "wall"
WALL_PATH = "/wall"
WALL_ID_PREFIX = "wall-"
ADMIN_ID_PREFIX = "admin-"
ADMIN_ROUTE_PREFIX = "/admin/"
#: Dash's pages router writes these ids; its `pathname` input says which page it renders.
PAGES_CONTENT_ID = "_pages_content"
PAGES_LOCATION_ID = "_pages_location"


@dataclass(frozen=True)
class Decision:
    """Allowed (status None), or refused with a status and a sentence saying why."""

    status: int | None = None
    message: str = ""
    redirect: str | None = None

    @property
    def allowed(self) -> bool:
        """Whether the request may go on."""
        return self.status is None


ALLOW = Decision()


def forbid(message: str) -> Decision:
    """A 403 with its reason."""
    return Decision(403, message)


def is_public(path: str) -> bool:
    """Whether the path is served without a session."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_api(path: str) -> bool:
    """Whether the path belongs to the bearer-token API."""
    return path.startswith(API_PREFIX)


def wants_json(path: str, method: str, accept: str = "") -> bool:
    """Whether a refusal should be JSON (XHR, Dash's endpoints) rather than a page or redirect."""
    if method not in ("GET", "HEAD"):
        return True
    if path.startswith("/_") or is_api(path):
        return True
    return "application/json" in accept and "text/html" not in accept


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login (anything else, e.g. `//evil.example`, becomes `default`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target) or target.split("?")[0] in ("/login", "/login/totp", "/logout"):
        return default
    return target


# -- Dash pages ------------------------------------------------------------------------------------
def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(<[^>]+>)", template)
    body = "".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts)
    return re.compile(f"^{body}$")


def page_for_path(pathname: str, registry: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The registered page that serves `pathname` (Dash's pages matching, trailing slash ignored)."""
    path = "/" + pathname.strip("/") if pathname not in ("", "/") else "/"
    pages = list(registry)
    for page in pages:
        if page.get("path") == path:
            return page
    for page in pages:
        template = page.get("path_template")
        if template and _template_regex(str(template)).match(path):
            return page
    return None


def page_roles(page: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The roles a page is restricted to (None: every role that may see pages)."""
    if page is None:
        return None
    roles = page.get("roles")
    return tuple(roles) if roles else None


def decide_page(role: str, path: str, registry: Iterable[Mapping[str, Any]]) -> Decision:
    """May `role` load the Dash page at `path`?"""
    normal = "/" + path.strip("/") if path not in ("", "/") else "/"
    if role == WALL_ROLE:
        if normal == WALL_PATH:
            return ALLOW
        if normal == "/":
            return Decision(302, "the wall role sees the wall screen", redirect=WALL_PATH)
        return forbid("the wall role may only open /wall")
    roles = page_roles(page_for_path(normal, registry))
    if roles is not None and role not in roles:
        return forbid(f"this page is for {', '.join(roles)}")
    return ALLOW


# -- Dash callbacks ------------------------------------------------------------------------------------
def output_ids(callback_key: str) -> list[Any]:
    """The component ids a callback writes, from its key in Dash's callback map.

    Keys read `id.prop` for one output and `..id1.prop1...id2.prop2..` for several;
    pattern-matching ids are JSON objects (`{"type":"wall-card","index":["ALL"]}.children`).
    """
    key = callback_key
    parts = key[2:-2].split("...") if key.startswith("..") and key.endswith("..") else [key]
    ids: list[Any] = []
    for part in parts:
        raw = part.rsplit(".", 1)[0] if "." in part else part
        if raw.startswith("{"):
            try:
                ids.append(json.loads(raw))
                continue
            except ValueError:
                pass
        ids.append(raw)
    return ids


def id_name(component_id: Any) -> str:
    """A component id as a string to test prefixes on (a pattern-matching id by its `type`)."""
    if isinstance(component_id, Mapping):
        return str(component_id.get("type", ""))
    return str(component_id)


def is_pages_router(callback_key: str) -> bool:
    """Whether the callback is Dash's pages router (it renders the page of a pathname)."""
    return any(id_name(i) == PAGES_CONTENT_ID for i in output_ids(callback_key))


def pathname_input(body: Mapping[str, Any]) -> str | None:
    """The pathname a callback request sends from Dash's pages location, if any."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        return None
    for item in inputs:
        if isinstance(item, Mapping) and item.get("id") == PAGES_LOCATION_ID and item.get("property") == "pathname":
            value = item.get("value")
            return value if isinstance(value, str) else None
    return None


def decide_callback(
    role: str,
    callback_key: str,
    body: Mapping[str, Any],
    known: bool,
    module_page: Mapping[str, Any] | None,
    registry: Iterable[Mapping[str, Any]],
) -> Decision:
    """May `role` run the callback Dash would dispatch for `callback_key`?

    Args:
        role: the viewer's role.
        callback_key: the request's `output` (what Dash dispatches on; never the client's
            `outputs` list, which only labels the results).
        body: the request body (for the pages router's pathname).
        known: whether the key is in the app's callback map.
        module_page: the registered page whose module defines the callback, if any.
        registry: the page registry.
    """
    if not known:
        return Decision(400, "no such callback")
    if is_pages_router(callback_key):
        pathname = pathname_input(body)
        if pathname is None:
            return Decision(400, "the pages router needs a pathname")
        page = decide_page(role, pathname, registry)
        return page if page.status != 302 else forbid("the wall role may only open /wall")
    names = [id_name(i) for i in output_ids(callback_key)]
    if role == WALL_ROLE and not (names and all(n.startswith(WALL_ID_PREFIX) for n in names)):
        return forbid("the wall role may only run callbacks of the wall screen")
    if any(n.startswith(ADMIN_ID_PREFIX) for n in names) and role != "admin":
        return forbid("only administrators may do this")
    roles = page_roles(module_page)
    if roles is not None and role not in roles:
        return forbid(f"this page is for {', '.join(roles)}")
    return ALLOW


def decide_route(role: str, path: str, rule: str | None) -> Decision:
    """May `role` use a Flask route that is neither public, API, Dash boot, callback nor a page?"""
    if role == WALL_ROLE:
        return forbid("the wall role may only open /wall")
    if (path.startswith(ADMIN_ROUTE_PREFIX) or (rule or "").startswith(ADMIN_ROUTE_PREFIX)) and role != "admin":
        return forbid("only administrators may do this")
    return ALLOW
