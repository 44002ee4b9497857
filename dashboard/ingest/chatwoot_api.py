"""A pull connector for Chatwoot's audit log API (Chatwoot Enterprise).

`GET {url}/api/v1/accounts/{account}/audit_logs?page=N` with an administrator's
`api_access_token` header answers `{per_page, total_entries, current_page, audit_logs: [...]}`,
newest first, 15 entries a page. A pull reads pages from the first until it reaches entries it
has already stored (the highest Chatwoot audit id stored is the cursor), converts the new ones
with the Chatwoot importer (`formats.from_chatwoot`) and ingests them like any other batch:
validated, enriched, chained, stored atomically per batch, rejected entries quarantined with
their Chatwoot id. The cursor moves only after every new entry is stored, so a pull that fails
half-way is simply repeated by the next one; entries seen twice (a page shifted by new entries
while it was read) are stored once, by their ids.

The server pulls on a schedule when `AUDITDASH_CHATWOOT_URL`, `..._ACCOUNT_ID` and a token are
set (docs/configuration.md); `auditdash chatwoot pull` does one pull from the command line, and
`auditdash chatwoot status` shows the last one. The state is kept in the `meta` table.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dashboard.config import Settings
from dashboard.ingest.formats import from_chatwoot
from dashboard.ingest.pipeline import Ingestor
from dashboard.ingest.readers import unreadable
from dashboard.store.db import Database, utcnow
from dashboard.store.writer import WriteResult

log = logging.getLogger(__name__)

#: statuses worth another try (rate limit, a restarting or overloaded server)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRIES = 4
MAX_RETRY_WAIT_S = 60.0
POSITION_LABEL = "Chatwoot audit id"
#: ids below the cursor that every pull reads again (entries that became visible out of order)
OVERLAP = 20


class ChatwootError(Exception):
    """A pull that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class ChatwootSource:
    """Where to pull from.

    Attributes:
        url: the Chatwoot installation (`https://app.chatwoot.com`, or your own host).
        account_id: the account whose audit log is read (the number in the app's URLs).
        token: an administrator's access token (Profile settings -> Access token).
        timeout_s: per request.
        max_pages: a bound on one pull (15 entries a page); the next pull goes on from there.
    """

    url: str
    account_id: str
    token: str = field(repr=False)
    timeout_s: float = 30.0
    max_pages: int = 2_000

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ChatwootError(
                f"the Chatwoot URL {self.url!r} is not an http(s) address like https://app.chatwoot.com"
            )
        if not str(self.account_id).strip().isdigit():
            raise ChatwootError(f"the Chatwoot account id {self.account_id!r} is not a number")

    @property
    def host(self) -> str:
        """The installation's host name (and port), for labels."""
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def source(self) -> str:
        """The `source` of the stored events (what the silence rule and the explorer show)."""
        return f"chatwoot:{self.host}/{self.account_id}"

    @property
    def state_key(self) -> str:
        """The `meta` key of this source's pull state."""
        return f"connector.{self.source}"

    def page_url(self, page: int) -> str:
        """The API address of one page."""
        base = self.url.rstrip("/")
        return f"{base}/api/v1/accounts/{urllib.parse.quote(str(self.account_id))}/audit_logs?page={page}"

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatwootSource | None:
        """The configured source, or None when the connector is not configured."""
        if not settings.chatwoot_url:
            return None
        if not settings.chatwoot_account_id:
            raise ChatwootError("AUDITDASH_CHATWOOT_URL is set but AUDITDASH_CHATWOOT_ACCOUNT_ID is not")
        token = settings.chatwoot_token
        if not token and settings.chatwoot_token_path:
            try:
                token = settings.chatwoot_token_path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                path = settings.chatwoot_token_path
                raise ChatwootError(f"cannot read the Chatwoot token file {path}: {exc}") from exc
        return cls(settings.chatwoot_url, str(settings.chatwoot_account_id), token or "")


@dataclass
class PullState:
    """What the last pulls of one source did (kept in the `meta` table as JSON)."""

    cursor: int | None = None
    #: a pull stopped by `max_pages` goes on from this page next time (newest first: older pages)
    resume_page: int | None = None
    #: the highest id that unfinished pull saw; the cursor once it is finished
    resume_high: int | None = None
    last_run_at: str | None = None
    last_ok_at: str | None = None
    last_error: str | None = None
    last_new: int = 0
    pulled_total: int = 0

    @classmethod
    def load(cls, db: Database, source: ChatwootSource) -> PullState:
        """The stored state (empty before the first pull)."""
        raw = db.get_meta(source.state_key)
        if not raw:
            return cls()
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in json.loads(raw).items() if k in known})

    def save(self, db: Database, source: ChatwootSource) -> None:
        """Store the state."""
        db.set_meta(source.state_key, json.dumps(asdict(self)))


@dataclass
class PullResult:
    """One pull."""

    source: str
    pages: int = 0
    last_page: int = 0
    fetched: int = 0
    new: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0  # ids stored already with other content: kept in the quarantine
    cursor: int | None = None
    complete: bool = True  # False when max_pages stopped it before reaching known entries

    def as_dict(self) -> dict[str, Any]:
        """For `--json`."""
        return asdict(self)


Opener = Callable[[urllib.request.Request, float], Any]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: the access token must never follow one to another host or to plain http."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise ChatwootError(
            f"Chatwoot answered {req.full_url} with a redirect (HTTP {code}) to {newurl}: the token is not sent on; "
            "set AUDITDASH_CHATWOOT_URL to the installation's final address"
        )


_OPENER = urllib.request.build_opener(_NoRedirect())


def _default_open(request: urllib.request.Request, timeout: float) -> Any:
    return _OPENER.open(request, timeout=timeout)


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait: the server's Retry-After (seconds or a date) within [0, 60], else 1, 2, 4 ... s."""
    backoff = float(min(2**attempt, MAX_RETRY_WAIT_S))
    if not value:
        return backoff
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return backoff
        if when.tzinfo is None:  # "-0000": UTC, with no offset said
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return backoff
    return min(max(seconds, 0.0), MAX_RETRY_WAIT_S)


def fetch_page(
    source: ChatwootSource, page: int, opener: Opener = _default_open, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """One page of the audit log as the API answers it (retried on 429 and 5xx)."""
    url = source.page_url(page)
    headers = {"api_access_token": source.token, "Accept": "application/json", "User-Agent": "auditdash"}
    for attempt in range(RETRIES + 1):
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 (http or https only)
        try:
            with opener(request, source.timeout_s) as resp:
                body = resp.read()
            break
        except ChatwootError:
            raise
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ChatwootError(
                    f"Chatwoot refused the access token (HTTP {exc.code}) at {url}: use the access token of an "
                    "administrator of this account (Profile settings -> Access token)"
                ) from exc
            if exc.code == 404:
                raise ChatwootError(
                    f"no audit log at {url} (HTTP 404): check the account id, and that this Chatwoot is an "
                    "Enterprise edition with audit logs turned on"
                ) from exc
            if exc.code not in RETRY_STATUSES or attempt == RETRIES:
                raise ChatwootError(f"Chatwoot answered HTTP {exc.code} at {url}") from exc
            wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None, attempt)
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            if attempt == RETRIES:
                reason = getattr(exc, "reason", exc)
                raise ChatwootError(f"cannot reach Chatwoot at {url}: {reason}") from exc
            wait = _retry_after(None, attempt)
        log.info("chatwoot: page %s: retrying in %.0f s", page, wait)
        sleep(wait)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ChatwootError(f"Chatwoot's answer at {url} is not JSON: {body[:80]!r}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("audit_logs"), list):
        raise ChatwootError(f"Chatwoot's answer at {url} has no audit_logs list: {str(doc)[:80]}")
    return doc


def _entry_id(entry: Any) -> int | None:
    value = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _read_new(
    source: ChatwootSource,
    cursor: int | None,
    opener: Opener,
    sleep: Callable[[float], None],
    first_page: int = 1,
) -> tuple[list[Any], PullResult]:
    """The entries newer than `cursor`, oldest first, and the counts of reading them.

    Reads from `first_page` for at most `source.max_pages` pages; `result.last_page` is the last
    page read and `result.complete` says whether the reading reached the stored entries (or the
    end of the log).
    """
    result = PullResult(source.source)
    fresh: dict[int | str, Any] = {}
    highest = cursor
    # Chatwoot numbers an entry when its transaction writes it, and concurrent transactions can
    # commit out of order: re-read the last OVERLAP ids below the cursor (stored ones are dropped
    # as duplicates by their ids), so an entry that became visible late is not skipped for good.
    floor = None if cursor is None else cursor - OVERLAP
    for page in range(first_page, first_page + source.max_pages):
        doc = fetch_page(source, page, opener, sleep)
        logs = doc["audit_logs"]
        result.pages += 1
        result.last_page = page
        if not logs:
            break
        result.fetched += len(logs)
        ids = [_entry_id(e) for e in logs]
        for entry, entry_id in zip(logs, ids, strict=True):
            if entry_id is None:
                fresh[f"page {page} #{len(fresh)}"] = entry  # quarantined by the validator, with its reason
            elif floor is None or entry_id > floor:
                fresh[entry_id] = entry
                highest = entry_id if highest is None else max(highest, entry_id)
        numbered = [i for i in ids if i is not None]
        newest_first = numbered == sorted(numbered, reverse=True)
        if floor is not None and newest_first and numbered and numbered[-1] <= floor:
            break  # the rest is older than what is stored (and than the overlap)
        per_page = doc["per_page"] if isinstance(doc.get("per_page"), int) and doc["per_page"] > 0 else len(logs)
        total = doc.get("total_entries")
        if isinstance(total, int) and page * per_page >= total:
            break
        if len(logs) < per_page:
            break
    else:
        result.complete = False
    result.cursor = highest
    entries = sorted(fresh.items(), key=lambda kv: (isinstance(kv[0], str), kv[0] if isinstance(kv[0], int) else 0))
    result.new = len(entries)
    return [e for _, e in entries], result


def pull(
    db: Database,
    ingestor: Ingestor,
    source: ChatwootSource,
    opener: Opener = _default_open,
    sleep: Callable[[float], None] = time.sleep,
) -> PullResult:
    """Pull the entries stored in Chatwoot since the last pull, and ingest them.

    Raises ChatwootError (after recording it in the pull state) when Chatwoot cannot be read.
    """
    state = PullState.load(db, source)
    state.last_run_at = utcnow().isoformat() + "Z"
    try:
        if not source.token.strip():
            raise ChatwootError(
                "no Chatwoot access token: set AUDITDASH_CHATWOOT_TOKEN or AUDITDASH_CHATWOOT_TOKEN_FILE "
                "(or pass --token-stdin)"
            )
        entries, result = _read_new(source, state.cursor, opener, sleep, state.resume_page or 1)
    except ChatwootError as exc:
        state.last_error = str(exc)
        state.save(db, source)
        raise
    total = WriteResult()
    for start in range(0, len(entries), ingestor.batch_size):
        records = [_convert(e, source.account_id) for e in entries[start : start + ingestor.batch_size]]
        total.add(ingestor.ingest_batch(records, source.source, POSITION_LABEL))
    result.accepted, result.duplicates, result.rejected = total.accepted, total.duplicates, total.rejected
    result.conflicts = total.conflicts
    high = max((h for h in (result.cursor, state.resume_high) if h is not None), default=None)
    if result.complete:
        state.cursor, state.resume_page, state.resume_high = high, None, None
    else:  # the older pages are read by the next pull; the cursor moves once they are
        state.resume_page, state.resume_high = result.last_page + 1, high
    result.cursor = state.cursor
    state.last_ok_at = state.last_run_at
    state.last_error = None if result.complete else f"stopped after {source.max_pages} pages; the next pull goes on"
    state.last_new = result.accepted
    state.pulled_total += result.accepted
    state.save(db, source)
    return result


def _convert(entry: Any, account_id: str) -> tuple[int, str]:
    """(Chatwoot id, contract event as JSON); an entry that cannot be read goes to quarantine as it is."""
    pos = _entry_id(entry) or 0
    raw = json.dumps(entry, ensure_ascii=False, default=str)
    if not isinstance(entry, dict):
        return pos, unreadable("a Chatwoot audit log entry must be a JSON object", raw)
    if _entry_id(entry) is None:
        return pos, unreadable("a Chatwoot audit log entry needs a numeric id", raw)
    try:
        return pos, json.dumps(from_chatwoot(entry, account_id), ensure_ascii=False, default=str)
    except (TypeError, ValueError, AttributeError) as exc:
        return pos, unreadable(f"cannot read this Chatwoot entry: {exc}", raw)
