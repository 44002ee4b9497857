"""Who may request what: the route and role rules of docs/security.md, as pure functions.

The request guard in `dashboard.web.auth` classifies each request with these functions; they
take plain values (a path, a role, a callback id, the page registry) so the rules can be
tested without a server and read in one place.

Rules, in order:

* public: `/login`, `/login/totp`, `/logout` (each checks its own form token), `/login/sso`
  and `/login/sso/callback` (single sign-on: checks its own state), `/healthz`,
  `/assets/*`, `/_dash-component-suites/*` (Dash's JavaScript bundles);
* `/api/*`: bearer tokens only, never the cookie session;
* everything else needs a session;
* `wall` may only load `/wall`, Dash's boot requests and callbacks of the wall page whose
  outputs all have ids starting `wall-`;
* a page registered with `roles=(...)` (`dash.register_page(..., roles=("admin",))`) is served,
  and its callbacks run, only for those roles; callbacks writing ids that start `admin-` and
  Flask routes under `/admin/` need `admin`;
* a callback belongs to the page whose module registered it (or to the shell, or is Dash's
  pages router); a callback request must send exactly the registered inputs and states, in
  order, and any pathname it sends (the router's, the shell's) must name a page the role may
  open, except the pages router's and the shell's for a signed-in person other than the wall:
  the router renders the page's refusal in words instead (the page's layout is guarded: its
  content is never built), the shell keeps the filters in step and draws no page the role may
  not open (`page_view.draw_into` checks).
  Unknown, browser-only and unassigned callbacks are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dashboard.roles import WALL

#: the single sign-on start and the identity provider's way back (dashboard/web/sso.py)
SSO_PATHS = frozenset({"/login/sso", "/login/sso/callback"})
PUBLIC_PATHS = frozenset({"/login", "/login/totp", "/logout", "/healthz", *SSO_PATHS})
PUBLIC_PREFIXES: tuple[str, ...] = ("/assets/", "/_dash-component-suites/")
API_PREFIX = "/api/"
CALLBACK_PATH = "/_dash-update-component"
#: what every signed-in role needs to start any Dash page (no data in them)
DASH_BOOT_PATHS = frozenset({"/_dash-layout", "/_dash-dependencies", "/_favicon.ico"})
#: the Flask rules that serve Dash's index page (the page itself is chosen in the browser)
DASH_INDEX_RULES = frozenset({"/", "/<path:path>"})
WALL_ROLE = WALL
WALL_PATH = "/wall"
WALL_ID_PREFIX = "wall-"
ADMIN_ID_PREFIX = "admin-"
ADMIN_ROUTE_PREFIX = "/admin/"
#: Dash's pages router writes these ids; its `pathname` input says which page it renders.
PAGES_CONTENT_ID = "_pages_content"
PAGES_LOCATION_ID = "_pages_location"
#: the keyword under which the pages router hands a layout the link's fragment (`#...`, a State of
#: its Location: a fragment that changes alone does not build the page again). `auth._guarded_layout`
#: takes it out of the layout's keywords (they are the link's query) and keeps it for the request
#: (`page_view.link_fragment`).
ROUTE_FRAGMENT = "link_fragment"


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
    if any(ord(c) < 32 for c in target) or target.split("?")[0] in ("/login", "/login/totp", "/logout", *SSO_PATHS):
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


#: modules whose callbacks belong to the shell around every page (not to one page)
SHELL_MODULES = frozenset({"dashboard.web.layout", "dashboard.web.components.filter_views"})
#: the inputs that carry the browser's pathname: Dash's pages location and the shell's own
PATHNAME_SOURCES = frozenset({(PAGES_LOCATION_ID, "pathname"), ("url", "pathname")})
_WILDCARDS = ("ALL", "MATCH", "ALLSMALLER")


@dataclass(frozen=True)
class CallbackRoute:
    """What the server knows about one callback of its map: whom it belongs to and what it takes.

    Attributes:
        key: the callback's key in Dash's callback map (the request's `output`).
        kind: `router` (Dash's pages router), `page` (defined in a registered page's module),
            `shell` (defined in one of `SHELL_MODULES`), `clientside` (runs in the browser only)
            or `unassigned` (defined anywhere else: refused).
        page: the registered page of a `page` callback.
        inputs: the registered inputs, in order (`{"id": ..., "property": ...}`).
        state: the registered states, in order.
        module: the module that defined the callback.
    """

    key: str
    kind: str
    page: Mapping[str, Any] | None = None
    inputs: tuple[Mapping[str, Any], ...] = ()
    state: tuple[Mapping[str, Any], ...] = ()
    module: str | None = None

    def pathname_slots(self) -> list[tuple[str, int]]:
        """Where the browser's pathname sits in a request: ("inputs" | "state", position)."""
        slots = []
        for group, deps in (("inputs", self.inputs), ("state", self.state)):
            for i, dep in enumerate(deps):
                if (dep.get("id"), dep.get("property")) in PATHNAME_SOURCES:
                    slots.append((group, i))
        return slots


def callback_routes(
    callback_map: Mapping[str, Mapping[str, Any]], registry: Iterable[Mapping[str, Any]]
) -> dict[str, CallbackRoute]:
    """Each callback of the app's map with the page (or shell) it belongs to, built on the server."""
    pages_by_module = {str(p.get("module")): p for p in registry}
    routes: dict[str, CallbackRoute] = {}
    for key, entry in callback_map.items():
        function = entry.get("callback")
        module = getattr(function, "__module__", None) if function is not None else None
        page = pages_by_module.get(str(module)) if module else None
        if function is None:
            kind = "clientside"
        elif is_pages_router(key):
            kind = "router"
        elif page is not None:
            kind = "page"
        elif module in SHELL_MODULES:
            kind = "shell"
        else:
            kind = "unassigned"
        routes[key] = CallbackRoute(
            key=key,
            kind=kind,
            page=page,
            inputs=tuple(entry.get("inputs") or ()),
            state=tuple(entry.get("state") or ()),
            module=module,
        )
    return routes


def _pattern(raw_id: Any) -> Any:
    """A registered dependency id: a string, or a pattern-matching id as a dict."""
    if isinstance(raw_id, str) and raw_id.startswith("{"):
        try:
            return json.loads(raw_id)
        except ValueError:
            return raw_id
    return raw_id


def _id_matches(pattern: Any, sent: Any) -> bool:
    if not isinstance(pattern, dict):
        return isinstance(sent, str) and sent == pattern
    if not isinstance(sent, Mapping) or set(sent) != set(pattern):
        return False
    for name, want in pattern.items():
        got = sent[name]
        if isinstance(want, list) and len(want) == 1 and want[0] in _WILDCARDS:
            if not isinstance(got, (str, int, float, bool)) or isinstance(got, list):
                return False
        elif got != want:
            return False
    return True


def _item_matches(dep: Mapping[str, Any], item: Any) -> bool:
    return (
        isinstance(item, Mapping)
        and item.get("property") == dep.get("property")
        and _id_matches(_pattern(dep.get("id")), item.get("id"))
    )


def _dep_name(dep: Mapping[str, Any]) -> str:
    return f"{dep.get('id')}.{dep.get('property')}"


def shape_problem(route: CallbackRoute, body: Mapping[str, Any]) -> str | None:
    """What is wrong with a request's `inputs` and `state`, if anything.

    Dash hands a callback its arguments by position, from the request's lists. A request must
    therefore send exactly the registered dependencies, in their order, each once: anything
    else (reordered, swapped between inputs and state, duplicated, missing) is refused, so
    the values the rules below read are the ones the callback receives.
    """
    for group, deps in (("inputs", route.inputs), ("state", route.state)):
        sent = body.get(group, [])
        if not isinstance(sent, list):
            return f"`{group}` must be a list"
        if len(sent) != len(deps):
            return f"`{group}` must hold {len(deps)} item(s) in the callback's order, not {len(sent)}"
        for i, (dep, item) in enumerate(zip(deps, sent, strict=True)):
            wildcard = isinstance(_pattern(dep.get("id")), dict)
            if wildcard and isinstance(item, list):
                ok = all(_item_matches(dep, one) for one in item)
            else:
                ok = _item_matches(dep, item)
            if not ok:
                return f"`{group}[{i}]` must be {_dep_name(dep)}"
    return None


def _pathnames(route: CallbackRoute, body: Mapping[str, Any]) -> list[Any]:
    """The pathname values the callback will receive (read by position, after `shape_problem`)."""
    values = []
    for group, index in route.pathname_slots():
        item = body[group][index]
        values.append(item.get("value") if isinstance(item, Mapping) else None)
    return values


def _page_refusal(role: str, pathname: str, registry: list[Mapping[str, Any]]) -> Decision | None:
    decision = decide_page(role, pathname, registry)
    if decision.allowed:
        return None
    return decision if decision.status != 302 else forbid("the wall role may only open /wall")


def decide_callback(
    role: str,
    route: CallbackRoute | None,
    body: Mapping[str, Any],
    registry: Iterable[Mapping[str, Any]],
) -> Decision:
    """May `role` run the callback Dash would dispatch for this request?

    Judged on the server: the callback is the one the request's `output` names in the app's
    callback map (never the client's `outputs` list, which only labels the results), it belongs
    to the page whose module registered it, and the values the rules read are taken at the
    registered positions, after the request was checked to send exactly those dependencies.

    Args:
        role: the viewer's role.
        route: the callback the request's `output` names (None: not in the app's map).
        body: the request body.
        registry: the page registry.
    """
    pages = list(registry)
    if route is None:
        return forbid("no such callback")
    if route.kind == "clientside":
        return forbid("this callback runs in the browser, not on the server")
    if route.kind == "unassigned":
        return forbid("this callback belongs to no page")
    names = [id_name(i) for i in output_ids(route.key)]
    if route.kind != "router" and role == WALL_ROLE:
        on_wall = route.kind == "page" and route.page is not None and route.page.get("path") == WALL_PATH
        if not (on_wall and names and all(n.startswith(WALL_ID_PREFIX) for n in names)):
            return forbid("the wall role may only run callbacks of the wall screen")
    if any(n.startswith(ADMIN_ID_PREFIX) for n in names) and role != "admin":
        return forbid("only administrators may do this")
    if route.kind == "page":
        roles = page_roles(route.page)
        if roles is not None and role not in roles:
            return forbid(f"this page is for {', '.join(roles)}")
    problem = shape_problem(route, body)
    if problem is not None:
        return Decision(400, f"the request does not match the callback: {problem}")
    pathnames = _pathnames(route, body)
    if route.kind == "router" and not (pathnames and isinstance(pathnames[0], str)):
        return Decision(400, "the pages router needs a pathname")
    for pathname in pathnames:
        if pathname is None and route.kind != "router":
            continue  # the shell before the browser told it where it is: nothing page-specific
        if not isinstance(pathname, str):
            return Decision(400, "a pathname must be text")
        refusal = _page_refusal(role, pathname, pages)
        # the router renders the refusal in words; the shell keeps the filters in step and draws a
        # page only where the role may open it (components/page_view.draw_into checks)
        if refusal is not None and not (route.kind in ("router", "shell") and role != WALL_ROLE):
            return refusal
    return ALLOW


def decide_route(role: str, path: str, rule: str | None) -> Decision:
    """May `role` use a Flask route that is neither public, API, Dash boot, callback nor a page?"""
    if role == WALL_ROLE:
        return forbid("the wall role may only open /wall")
    if (path.startswith(ADMIN_ROUTE_PREFIX) or (rule or "").startswith(ADMIN_ROUTE_PREFIX)) and role != "admin":
        return forbid("only administrators may do this")
    return ALLOW
