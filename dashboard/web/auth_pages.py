"""The HTML of the login, second-factor and refusal pages, and the signed-in bar of Dash pages.

Plain server-rendered HTML styled by the shipped Bootstrap CSS: no JavaScript, so the login
works with scripts off and under the strictest Content Security Policy. Every value is
escaped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

BOOTSTRAP = "/assets/vendor/bootstrap/bootstrap.min.css"


def _document(title: str, body: Markup) -> str:
    return str(
        Markup(
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>{title} · auditdash</title>"
            '<link rel="icon" href="data:,">'  # no /favicon.ico request: no such page (404)
            '<link rel="stylesheet" href="{css}"></head>'
            '<body class="bg-body-tertiary">{body}</body></html>'
        ).format(title=title, css=BOOTSTRAP, body=body)
    )


def _card(title: str, content: Markup) -> Markup:
    return Markup(
        '<main class="container py-5" style="max-width: 26rem">'
        '<h1 class="h4 mb-3">auditdash</h1>'
        '<div class="card shadow-sm"><div class="card-body">'
        '<h2 class="h5 card-title mb-3">{title}</h2>{content}</div></div>'
        '<p class="text-muted small mt-3">Every sign-in, failure and sign-out is recorded in the audit log.</p>'
        "</main>"
    ).format(title=title, content=content)


def _alert(message: str | None, kind: str) -> Markup:
    if not message:
        return Markup("")
    return Markup('<div class="alert alert-{kind} py-2" role="alert" id="login-message">{message}</div>').format(
        kind=kind, message=message
    )


def login_page(
    csrf_token: str,
    next_path: str,
    username: str = "",
    error: str | None = None,
    notice: str | None = None,
    sso_name: str | None = None,
    passwords_off: bool = False,
) -> str:
    """The sign-in form (user name and password), under a "Sign in with <provider>" button when
    single sign-on is set up; with local passwords off, the form is folded away for the
    break-glass administrator."""
    form = Markup(
        '<form method="post" action="/login" id="login-form">'
        '<input type="hidden" name="csrf_token" value="{csrf}">'
        '<input type="hidden" name="next" value="{next}">'
        '<div class="mb-3"><label class="form-label" for="username">User name</label>'
        '<input class="form-control" id="username" name="username" value="{username}" '
        'autocomplete="username" autocapitalize="none" required autofocus></div>'
        '<div class="mb-3"><label class="form-label" for="password">Password</label>'
        '<input class="form-control" id="password" name="password" type="password" '
        'autocomplete="current-password" required></div>'
        '<button class="btn btn-primary w-100" type="submit" id="login-submit">Sign in</button>'
        "</form>"
    ).format(csrf=csrf_token, next=next_path, username=username)
    if sso_name:
        button = Markup(
            '<a class="btn btn-primary w-100" id="sso-login" href="/login/sso?{query}">Sign in with {name}</a>'
        ).format(query=urlencode({"next": next_path}), name=sso_name)
        if passwords_off:
            form = button + Markup(
                '<details class="mt-4" id="break-glass"{open}><summary class="small text-muted">'
                'Emergency administrator sign-in</summary><div class="mt-3">{form}</div></details>'
            ).format(form=form, open=Markup(" open") if username else Markup(""))
        else:
            form = button + Markup('<p class="text-center text-muted small my-3">or with a password</p>') + form
    return _document("Sign in", _card("Sign in", _alert(error, "danger") + _alert(notice, "info") + form))


def sso_refusal_page(title: str, message: str, status: int) -> str:
    """A single sign-on that did not let the person in: what happened, what to do, a way back."""
    content = Markup(
        '<div class="alert alert-{kind}" role="alert" id="sso-refusal">{message}</div>'
        '<a class="btn btn-secondary" href="/login" id="sso-back">Back to sign-in</a>'
    ).format(kind="warning" if status < 500 else "danger", message=message)
    return _document(title, _card(title, content))


def totp_page(csrf_token: str, error: str | None = None) -> str:
    """The second step: the one-time code of the user's authenticator app."""
    form = Markup(
        '<form method="post" action="/login/totp" id="totp-form">'
        '<input type="hidden" name="csrf_token" value="{csrf}">'
        '<div class="mb-3"><label class="form-label" for="code">One-time code</label>'
        '<input class="form-control" id="code" name="code" inputmode="numeric" pattern="[0-9 ]*" '
        'autocomplete="one-time-code" required autofocus>'
        '<div class="form-text">The six digits your authenticator app shows for auditdash.</div></div>'
        '<button class="btn btn-primary w-100" type="submit" id="totp-submit">Verify</button>'
        "</form>"
    ).format(csrf=csrf_token)
    return _document("One-time code", _card("One-time code", _alert(error, "danger") + form))


def app_nav(links: list[tuple[str, str]], bar: str = "") -> Markup:
    """The app's navigation bar (the shell's, as plain HTML) for the server-rendered pages of a
    signed-in person: `links` are (name, path) of the pages their role may open; `bar` is the
    signed-in bar (`user_bar`) above it."""
    items = Markup("").join(
        Markup('<li class="nav-item"><a class="nav-link" href="{path}">{name}</a></li>').format(path=path, name=name)
        for name, path in links
    )
    return Markup(bar) + Markup(  # noqa: S704  # `bar` is user_bar's HTML: every value in it is escaped
        '<nav class="navbar navbar-expand navbar-dark bg-dark ad-navbar" id="navbar">'
        '<div class="container-fluid"><a class="navbar-brand" href="/"><span class="fw-semibold">auditdash</span>'
        '<span class="ad-brand-sub"> · Audit Logs</span></a>'
        '<ul class="navbar-nav ad-nav">{items}</ul></div></nav>'
    ).format(items=items)


def refusal_page(status: int, message: str, nav: Markup | None = None) -> str:
    """A page that says a request was refused, and why (under the app's navigation when `nav` is given)."""
    title = {400: "Bad request", 403: "Not allowed", 404: "Not found"}.get(status, "Refused")
    content = Markup('<p id="refusal-message">{message}</p><a class="btn btn-secondary" href="/">Home</a>').format(
        message=message
    )
    return _document(title, (nav or Markup("")) + _card(title, content))


def user_bar(username: str, role: str, csrf_token: str, is_admin: bool) -> str:
    """The thin bar above every Dash page: who is signed in, their account, and the sign-out form."""
    admin_link = (
        Markup('<a class="link-secondary" href="/admin" id="admin-link">Users &amp; tokens</a>')
        if is_admin
        else Markup("")
    )
    if role != "wall":  # a kiosk has no account of its own to manage
        admin_link = Markup('<a class="link-secondary" href="/account" id="account-link">Your account</a>') + admin_link
    return str(
        Markup(
            '<div id="auditdash-userbar" class="d-flex justify-content-end align-items-center gap-3 '
            'px-3 py-1 small bg-body-tertiary border-bottom">'
            '<span>Signed in as <strong id="userbar-name">{username}</strong> ({role})</span>{admin}'
            '<form method="post" action="/logout" class="m-0" id="logout-form">'
            '<input type="hidden" name="csrf_token" value="{csrf}">'
            '<button type="submit" class="btn btn-link btn-sm p-0 align-baseline" id="logout-button">'
            "Sign out</button></form></div>"
        ).format(username=username, role=role, admin=admin_link, csrf=csrf_token)
    )


def _field(name: str, label: str, kind: str = "password", autocomplete: str = "", hint: str = "") -> Markup:
    return Markup(
        '<div class="mb-3"><label class="form-label" for="{name}">{label}</label>'
        '<input class="form-control" id="{name}" name="{name}" type="{kind}" autocomplete="{auto}" required>'
        "{hint}</div>"
    ).format(
        name=name,
        label=label,
        kind=kind,
        auto=autocomplete or "off",
        hint=Markup('<div class="form-text">{}</div>').format(hint) if hint else Markup(""),
    )


def _section(title: str, section_id: str, content: Markup) -> Markup:
    return Markup(
        '<section class="card shadow-sm mb-3" id="{id}"><div class="card-body">'
        '<h2 class="h5 card-title mb-3">{title}</h2>{content}</div></section>'
    ).format(id=section_id, title=title, content=content)


def account_page(
    csrf_token: str,
    username: str,
    role: str,
    password_changed: str,
    totp_on: bool,
    min_length: int,
    message: str | None = None,
    error: str | None = None,
    enrolment: tuple[str, str, Markup] | None = None,
    sessions: list[dict[str, Any]] | None = None,
    nav: Markup | None = None,
) -> str:
    """The signed-in person's own account: who they are, their password, their second factor.

    `enrolment` is (secret, otpauth URI, QR code SVG) while a second factor is being set up;
    `nav` is the app's navigation (`app_nav`) above the page.
    """
    csrf = Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token)
    about = Markup(
        '<dl class="row mb-0" id="account-about">'
        '<dt class="col-5">User name</dt><dd class="col-7" id="account-username">{username}</dd>'
        '<dt class="col-5">Role</dt><dd class="col-7" id="account-role">{role}</dd>'
        '<dt class="col-5">Password changed</dt><dd class="col-7">{changed} UTC</dd>'
        '<dt class="col-5">Second factor</dt><dd class="col-7" id="account-totp-state">{totp}</dd></dl>'
    ).format(username=username, role=role, changed=password_changed, totp="on" if totp_on else "off")
    password_form = Markup(
        '<form method="post" action="/account/password" id="password-form">{csrf}{current}{new}{again}'
        '<button class="btn btn-primary" type="submit" id="password-submit">Change password</button>'
        '<p class="form-text mb-0 mt-2">Your other sessions end; this one stays signed in.</p></form>'
    ).format(
        csrf=csrf,
        current=_field("current_password", "Current password", autocomplete="current-password"),
        new=_field(
            "new_password", "New password", autocomplete="new-password", hint=f"At least {min_length} characters."
        ),
        again=_field("new_password_again", "New password again", autocomplete="new-password"),
    )
    if enrolment is not None:
        secret, uri, svg = enrolment
        totp = Markup(
            "<p>Scan the code with your authenticator app, or enter the key by hand, then type the six "
            "digits it shows.</p>"
            '<div class="mb-3 text-center" id="totp-qr" role="img" aria-label="QR code of the key">{svg}</div>'
            '<p class="small">Key: <code id="totp-secret">{secret}</code></p>'
            '<p class="small text-break d-none" id="totp-uri">{uri}</p>'
            '<form method="post" action="/account/totp/confirm" id="totp-confirm-form">{csrf}{code}'
            '<button class="btn btn-primary" type="submit" id="totp-confirm">Turn on</button> '
            '<a class="btn btn-link" href="/account">Cancel</a></form>'
        ).format(
            svg=svg,
            secret=secret,
            uri=uri,
            csrf=csrf,
            code=_field("code", "One-time code", kind="text", autocomplete="one-time-code"),
        )
    elif totp_on:
        totp = Markup(
            "<p>Signing in asks for a one-time code from your authenticator app.</p>"
            '<form method="post" action="/account/totp/off" id="totp-off-form">{csrf}{current}'
            '<button class="btn btn-outline-danger" type="submit" id="totp-off">Turn off</button></form>'
        ).format(
            csrf=csrf,
            current=_field("totp_current_password", "Current password", autocomplete="current-password"),
        )
    else:
        totp = Markup(
            "<p>Off: signing in needs only your password. With a second factor it also asks for a "
            "one-time code from an authenticator app on your phone.</p>"
            '<form method="post" action="/account/totp/start" id="totp-start-form">{csrf}{current}'
            '<button class="btn btn-outline-primary" type="submit" id="totp-start">Set up</button></form>'
        ).format(
            csrf=csrf,
            current=_field("totp_current_password", "Current password", autocomplete="current-password"),
        )
    body = Markup(
        '<main class="container py-4" style="max-width: 34rem">'
        '<nav aria-label="breadcrumb"><ol class="breadcrumb small mb-2">'
        '<li class="breadcrumb-item"><a href="/">auditdash</a></li>'
        '<li class="breadcrumb-item active" aria-current="page">Your account</li></ol></nav>'
        '<h1 class="h4 mb-3">Your account</h1>{ok}{err}{about}{password}{totp}{sessions}'
        '<p class="text-muted small">Every change here is recorded in the audit log.</p></main>'
    ).format(
        sessions=_sessions(sessions, csrf) if sessions is not None else Markup(""),
        ok=_alert(message, "success"),
        err=_alert(error, "danger"),
        about=_section("Who you are", "account-summary", about),
        password=_section("Password", "account-password", password_form),
        totp=_section("Second factor", "account-totp", totp),
    )
    return _document("Your account", (nav or Markup("")) + body)


def _sessions(sessions: list[dict[str, Any]], csrf: Markup) -> Markup:
    """Where the person is signed in, and a button to sign out everywhere else."""
    rows = Markup("").join(
        Markup(
            "<tr{cls}><td>{started:%Y-%m-%d %H:%M}</td><td>{seen:%Y-%m-%d %H:%M}</td><td>{ip}</td>"
            '<td class="text-break small">{agent}</td><td>{here}</td></tr>'
        ).format(
            cls=Markup(' class="table-active"') if s["current"] else Markup(""),
            started=s["created_at"],
            seen=s["last_seen_at"],
            ip=s.get("ip") or "",
            agent=(s.get("user_agent") or "")[:120],
            here="this one" if s["current"] else "",
        )
        for s in sessions
    )
    others = sum(1 for s in sessions if not s["current"])
    button = (
        Markup(
            '<form method="post" action="/account/sessions/end" id="sessions-end-form">{csrf}'
            '<button class="btn btn-outline-danger btn-sm" type="submit" id="sessions-end">'
            "Sign out everywhere else ({n})</button></form>"
        ).format(csrf=csrf, n=others)
        if others
        else Markup('<p class="small text-muted mb-0">You are signed in here only.</p>')
    )
    table = Markup(
        '<table class="table table-sm small" id="account-sessions-table"><thead><tr><th>Signed in (UTC)</th>'
        "<th>Last active</th><th>Address</th><th>Browser</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
    ).format(rows=rows)
    return _section("Where you are signed in", "account-sessions", table + button)
