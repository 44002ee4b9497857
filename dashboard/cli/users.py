"""`auditdash users ...`: manage dashboard users from the command line.

Each change is written to the audit log with the operating-system user as the actor
(`cli:NAME`). Passwords come from `--password-stdin` (one line) for scripts; without it a
random password is generated and printed once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dashboard.access import users
from dashboard.cli.common import cli_actor, open_db, print_json
from dashboard.store.db import Database
from dashboard.store.errors import StoreError


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `users` and its subcommands to the `auditdash` parser."""
    p: argparse.ArgumentParser = sub.add_parser("users", parents=[common], help="dashboard users")
    usub = p.add_subparsers(dest="users_cmd", required=True)
    roles = ", ".join(users.ROLES)
    u = usub.add_parser("add", parents=[common, as_json], help="add a user")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=users.ROLES, help=f"one of {roles}")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin (else generated)")
    usub.add_parser("list", parents=[common, as_json], help="list users")
    for command, text in (("disable", "disable a user (ends their sessions)"), ("enable", "enable a user again")):
        u = usub.add_parser(command, parents=[common, as_json], help=text)
        u.add_argument("name")
    u = usub.add_parser("reset-password", parents=[common, as_json], help="set a new password (ends sessions)")
    u.add_argument("name")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin (else generated)")
    u = usub.add_parser("set-role", parents=[common, as_json], help="change a user's role")
    u.add_argument("name")
    u.add_argument("role", choices=users.ROLES)
    u = usub.add_parser("totp-enable", parents=[common, as_json], help="turn on the second factor (prints the URI)")
    u.add_argument("name")
    u = usub.add_parser("totp-disable", parents=[common, as_json], help="turn off the second factor")
    u.add_argument("name")
    u = usub.add_parser("unlock", parents=[common, as_json], help="lift a login lockout of a user name")
    u.add_argument("name")
    p.set_defaults(func=cmd_users)


def cmd_users(args: argparse.Namespace) -> int:
    """Add, list, disable, enable dashboard users; reset passwords, set roles, second factor."""
    db = open_db(args, create=args.users_cmd == "add")  # the others need the user's store
    try:
        return run_users(args, db)
    finally:
        db.close()


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password from stdin, or a generated one; and whether it was generated."""
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise StoreError("--password-stdin read an empty line")
        return password, False
    return users.generate_password(), True


def _user_json(u: users.User) -> dict[str, Any]:
    return {
        "username": u.username,
        "role": u.role,
        "active": u.active,
        "totp": u.totp_enabled,
        "sign_in": "sso" if u.sso else "password",
        "created_at": u.created_at,
        "last_login_at": u.last_login_at,
        "password_changed_at": u.password_changed_at,
        "disabled_at": u.disabled_at,
    }


def _show_generated(username: str, password: str) -> None:
    print(password)
    print(f"password of {username!r}: shown once, store it now", file=sys.stderr)


def run_users(args: argparse.Namespace, db: Database) -> int:
    """Run one `users` subcommand against an open database; return the exit code."""
    users.seal_totp_secrets(db)  # secrets stored before sealing, when the server has not run since
    actor = cli_actor()
    command = args.users_cmd
    if command == "list":
        found = users.list_users(db)
        if args.json:
            print_json([_user_json(u) for u in found])
            return 0
        print(f"{'user':<24}{'role':<12}{'status':<10}{'sign-in':<10}{'2fa':<5}last login")
        for u in found:
            last = f"{u.last_login_at:%Y-%m-%d %H:%M:%S}" if u.last_login_at else "never"
            status = "active" if u.active else "disabled"
            sign_in = "sso" if u.sso else "password"
            print(f"{u.username:<24}{u.role:<12}{status:<10}{sign_in:<10}{'on' if u.totp_enabled else 'off':<5}{last}")
        return 0
    if command == "add":
        password, generated = _read_password(args)
        user = users.create_user(db, args.name, args.role, password, actor)
        if args.json:
            print_json({**_user_json(user), **({"password": password} if generated else {})})
        elif generated:
            _show_generated(user.username, password)
        else:
            print(f"user {user.username!r} ({user.role}) created")
        return 0
    if command == "reset-password":
        password, generated = _read_password(args)
        user = users.reset_password(db, args.name, password, actor)
        if args.json:
            print_json({"username": user.username, **({"password": password} if generated else {})})
        elif generated:
            _show_generated(user.username, password)
        else:
            print(f"password of {user.username!r} changed; their sessions ended")
        return 0
    if command in ("disable", "enable"):
        user = users.set_disabled(db, args.name, command == "disable", actor)
        print_json(_user_json(user)) if args.json else print(f"user {user.username!r} {command}d")
        return 0
    if command == "set-role":
        user = users.set_role(db, args.name, args.role, actor)
        print_json(_user_json(user)) if args.json else print(f"user {user.username!r} is now {user.role}")
        return 0
    if command == "totp-enable":
        uri = users.totp_enable(db, args.name, actor)
        if args.json:
            print_json({"username": users.normalize_username(args.name), "otpauth_uri": uri})
        else:
            print(uri)
            print(
                "add this to an authenticator app (paste it, or make a QR code of it); it is shown once",
                file=sys.stderr,
            )
        return 0
    if command == "totp-disable":
        user = users.totp_disable(db, args.name, actor)
        print_json(_user_json(user)) if args.json else print(f"second factor of {user.username!r} is off")
        return 0
    if command == "unlock":
        lifted = users.unlock(db, args.name, actor)
        print(f"{'lockout lifted' if lifted else 'no lockout'} for {users.normalize_username(args.name)!r}")
        return 0
    raise StoreError(f"unknown users command {command!r}")


def print_first_admin(password: str) -> None:
    """Show the first administrator's password, once, on the server's console."""
    print(
        "First start: created the administrator account\n"
        f"    user:     {users.FIRST_ADMIN}\n"
        f"    password: {password}\n"
        "This password is shown once and never stored; sign in and keep it safe, or set your own with:\n"
        f"    auditdash users reset-password {users.FIRST_ADMIN} --password-stdin",
        flush=True,
    )
