"""The HTML of the login, second-factor and refusal pages, and the signed-in bar of Dash pages.

Plain server-rendered HTML styled by the shipped Bootstrap CSS: no JavaScript, so the login
works with scripts off and under the strictest Content Security Policy. Every value is
escaped.
"""

from __future__ import annotations

from markupsafe import Markup

BOOTSTRAP = "/assets/vendor/bootstrap/bootstrap.min.css"


def _document(title: str, body: Markup) -> str:
    return str(
        Markup(
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>{title} · auditdash</title>"
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
    csrf_token: str, next_path: str, username: str = "", error: str | None = None, notice: str | None = None
) -> str:
    """The sign-in form (user name and password)."""
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
    return _document("Sign in", _card("Sign in", _alert(error, "danger") + _alert(notice, "info") + form))


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


def refusal_page(status: int, message: str) -> str:
    """A page that says a request was refused, and why."""
    title = {400: "Bad request", 403: "Not allowed"}.get(status, "Refused")
    content = Markup('<p id="refusal-message">{message}</p><a class="btn btn-secondary" href="/">Home</a>').format(
        message=message
    )
    return _document(title, _card(title, content))


def user_bar(username: str, role: str, csrf_token: str, is_admin: bool) -> str:
    """The thin bar above every Dash page: who is signed in, and the sign-out form."""
    admin_link = (
        Markup('<a class="link-secondary" href="/admin" id="admin-link">Users &amp; tokens</a>')
        if is_admin
        else Markup("")
    )
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
