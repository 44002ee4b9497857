"""Password hash costs: the defaults are argon2id's RFC 9106 ones, weaker than OWASP's minimum is
refused at start, and a hash made with other costs still signs in and is made again."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard import config
from dashboard.access import users
from dashboard.store import schema
from dashboard.store.db import Database
from tests.conftest import TEST_HASH_COSTS, cli


def test_the_defaults_are_rfc_9106_and_the_tests_run_at_owasps_minimum() -> None:
    defaults = config.load({})
    assert (defaults.password_hash_memory_kib, defaults.password_hash_time_cost) == (65536, 3)
    assert defaults.password_hash_parallelism == 4
    hashed = users._hasher().hash("a long enough password")
    memory, passes, lanes = TEST_HASH_COSTS.values()
    assert hashed.startswith(f"$argon2id$v=19$m={memory},t={passes},p={lanes}$")


@pytest.mark.parametrize(
    ("memory", "passes", "lanes"),
    [("4096", "9", "1"), ("19456", "1", "1"), ("65536", "0", "4"), ("65536", "3", "0")],
)
def test_weaker_than_owasps_minimum_is_refused_at_start(memory: str, passes: str, lanes: str) -> None:
    env = {
        "AUDITDASH_PASSWORD_HASH_MEMORY_KIB": memory,
        "AUDITDASH_PASSWORD_HASH_TIME_COST": passes,
        "AUDITDASH_PASSWORD_HASH_PARALLELISM": lanes,
    }
    with pytest.raises(config.ConfigError, match="weaker than OWASP's minimum"):
        config.load(env)
    result = cli("users", "list", env=env, check=False)
    assert result.returncode != 0
    assert "weaker than OWASP's minimum" in result.stderr and "Traceback" not in result.stderr


def test_a_hash_of_other_costs_signs_in_and_is_made_again(tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    def stored(db: Database) -> str:
        with db.engine.connect() as conn:
            return str(
                conn.execute(
                    sa.select(schema.users.c.password_hash).where(schema.users.c.username == "olga")
                ).scalar_one()
            )

    db = Database(tmp_path / "hash.duckdb")
    try:
        users.create_user(db, "olga", "admin", "an old strong password")
        old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("an old strong password")
        users._update(db, "olga", password_hash=old)
        assert users.authenticate(db, "olga", "a wrong password here").reason == "wrong password"
        assert stored(db) == old
        assert users.authenticate(db, "olga", "an old strong password").reason is None
        now = stored(db)
        assert now != old and not users._hasher().check_needs_rehash(now)
        assert users._hasher().verify(now, "an old strong password")
    finally:
        db.close()
