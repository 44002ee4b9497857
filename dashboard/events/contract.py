"""The event contract: the fields of one audit event, their limits, and the JSON Schema.

One table (`FIELDS`) defines every field. The batch validator (`validate.py`), the JSON
Schema in `docs/event.schema.json` and the storage columns are all derived from it, so the
three cannot drift apart; `tests/test_contract.py` checks that the validator and the schema
agree on a corpus of good and bad events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["string", "enum", "timestamp", "ip", "object"]

#: largest accepted event, as UTF-8 JSON text.
MAX_EVENT_BYTES = 64 * 1024

#: deepest accepted nesting of a field's value: an object or array is level 1, one inside it
#: level 2 (`{"metadata": {"a": [1]}}`: metadata is nested 2 levels deep).
MAX_NESTING = 32

#: how much of a record too large to keep whole is kept in the quarantine (characters).
EXCERPT_CHARS = 4096


def too_large_reason(nbytes: int) -> str:
    """Why a record over `MAX_EVENT_BYTES` is refused (the same words from every reader)."""
    return f"{nbytes:,} bytes, over the limit of {MAX_EVENT_BYTES} bytes (64 KiB) of one event"


def too_deep_reason(field: str | None, depth: int) -> str:
    """Why a record nested deeper than `MAX_NESTING` is refused."""
    what = field or "the event"
    return f"{what} is nested {depth:,} levels deep, over the limit of {MAX_NESTING}"


#: actions are dotted lower-case words.
ACTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"

#: RFC 3339 date-time with a mandatory offset (seconds required, fraction optional).
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
#: the same without an offset: recognised only to say what is missing.
RFC3339_NO_OFFSET_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?$"

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: a masked address as Chatwoot sends it: four parts, the last one to three of them `x`.
MASKED_IPV4_PATTERN = (
    rf"^({_OCTET}\.{_OCTET}\.{_OCTET}\.[xX]|{_OCTET}\.{_OCTET}\.[xX]\.[xX]|{_OCTET}\.[xX]\.[xX]\.[xX])$"
)

OUTCOMES: tuple[str, ...] = ("success", "failure", "unknown")
ACTOR_TYPES: tuple[str, ...] = ("user", "api_key", "bot", "system")
TARGET_TYPES_SUGGESTED: tuple[str, ...] = (
    "conversation",
    "agent",
    "label",
    "macro",
    "automation_rule",
    "inbox",
    "team",
    "integration",
    "setting",
    "account",
)


@dataclass(frozen=True)
class Field:
    """One field of the wire format.

    Attributes:
        path: dotted JSON path as senders write it (`actor.id`).
        column: the storage column it lands in.
        kind: how it is validated.
        max_length: longest accepted string, in characters.
        required: whether an event without it is rejected.
        enum: the accepted values of an `enum` field.
        default: the value stored when the field is absent.
        description: one line for the docs and the schema.
    """

    path: str
    column: str
    kind: Kind
    max_length: int | None = None
    required: bool = False
    enum: tuple[str, ...] | None = None
    default: str | None = None
    description: str = ""


FIELDS: tuple[Field, ...] = (
    Field("id", "event_id", "string", 128, description="Sender's unique id; the idempotency key."),
    Field(
        "occurred_at",
        "occurred_at",
        "timestamp",
        64,
        required=True,
        description="RFC 3339 with offset, or epoch seconds / milliseconds as a number.",
    ),
    Field("account_id", "account_id", "string", 128, default="default", description="The tenant."),
    Field("action", "action", "string", 128, required=True, description="Dotted lower-case action."),
    Field("outcome", "outcome", "enum", enum=OUTCOMES, default="success", description="Success or failure."),
    Field("reason", "reason", "string", 256, description="Why it failed."),
    Field("actor.id", "actor_id", "string", 256, description="Who did it (required unless system)."),
    Field("actor.name", "actor_name", "string", 256, description="Display name."),
    Field("actor.email", "actor_email", "string", 320, description="E-mail address."),
    Field("actor.role", "actor_role", "string", 64, description="Role as the platform names it."),
    Field("actor.type", "actor_type", "enum", enum=ACTOR_TYPES, default="user", description="Kind of actor."),
    Field("target.type", "target_type", "string", 64, description="Kind of object acted on."),
    Field("target.id", "target_id", "string", 256, description="Id of the object acted on."),
    Field("target.name", "target_name", "string", 512, description="Name of the object acted on."),
    Field("ip", "ip", "ip", 64, description="Source address (IPv4, IPv6, or masked a.b.c.x)."),
    Field("user_agent", "user_agent", "string", 1024, description="Client user agent."),
    Field("session_id", "session_id", "string", 128, description="Groups one session's events."),
    Field("request_id", "request_id", "string", 128, description="Groups one request's events."),
    Field("changes", "changes", "object", description="{field: [old, new]} of an update."),
    Field("before", "", "object", description="Alternative to changes: values before."),
    Field("after", "", "object", description="Alternative to changes: values after."),
    Field("metadata", "metadata", "object", description="Anything else the sender wants kept."),
)

FIELD_BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}

#: top-level keys and the keys allowed inside the two nested objects.
TOP_LEVEL_KEYS: tuple[str, ...] = tuple(dict.fromkeys(f.path.split(".")[0] for f in FIELDS))
NESTED_KEYS: dict[str, tuple[str, ...]] = {
    parent: tuple(f.path.split(".")[1] for f in FIELDS if f.path.startswith(parent + "."))
    for parent in ("actor", "target")
}


def _string_schema(field: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"], "description": field.description}
    if field.max_length:
        schema["maxLength"] = field.max_length
    if field.path == "id":
        schema["minLength"] = 1
    if field.path == "action":
        schema["type"] = "string"
        schema["pattern"] = ACTION_PATTERN
    if field.path in ("account_id",):
        schema["minLength"] = 1
    return schema


def _field_schema(field: Field) -> dict[str, Any]:
    if field.kind == "string":
        return _string_schema(field)
    if field.kind == "enum":
        return {"enum": [*(field.enum or ()), None], "description": field.description}
    if field.kind == "timestamp":
        return {
            "description": field.description,
            "oneOf": [
                {"type": "string", "pattern": RFC3339_PATTERN},
                {"type": "number", "minimum": 946684800},
            ],
        }
    if field.kind == "ip":
        return {
            "description": field.description,
            "anyOf": [
                {"type": "string", "format": "ipv4"},
                {"type": "string", "format": "ipv6"},
                {"type": "string", "pattern": MASKED_IPV4_PATTERN},
                {"type": "null"},
            ],
        }
    if field.path == "changes":
        return {
            "type": ["object", "null"],
            "description": field.description,
            "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
        }
    return {"type": ["object", "null"], "description": field.description}


def json_schema() -> dict[str, Any]:
    """Build the JSON Schema (draft 2020-12) of one event from `FIELDS`.

    Rules the schema cannot say are listed in its description and enforced by the validator:
    the 64 KiB size limit, the nesting limit, finite numbers only, the valid range of
    `occurred_at` and the calendar validity of dates.
    """
    properties: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {"actor": {}, "target": {}}
    for field in FIELDS:
        if "." in field.path:
            parent, child = field.path.split(".", 1)
            nested[parent][child] = _field_schema(field)
        else:
            properties[field.path] = _field_schema(field)
    for parent, props in nested.items():
        properties[parent] = {
            "type": "object" if parent == "actor" else ["object", "null"],
            "properties": props,
            "additionalProperties": False,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://auditdash.invalid/schema/event.schema.json",
        "title": "auditdash audit event",
        "description": (
            "One audit event as sent to auditdash. Also enforced by the server: the whole event is "
            f"at most {MAX_EVENT_BYTES} bytes of UTF-8 JSON (strict RFC 8259: NaN, Infinity and numbers "
            f"too large for a 64-bit float are refused); no value is nested more than {MAX_NESTING} levels "
            "deep (an object or array is level 1); no string (value or field name) holds U+0000 or "
            "half of a UTF-16 surrogate pair; occurred_at is a real calendar time "
            "between 2000-01-01 and 24 hours from now."
        ),
        "type": "object",
        "required": ["occurred_at", "action", "actor"],
        "properties": properties,
        "additionalProperties": False,
        "anyOf": [
            {"properties": {"actor": {"required": ["id"], "properties": {"id": {"type": "string"}}}}},
            {"properties": {"actor": {"required": ["type"], "properties": {"type": {"const": "system"}}}}},
        ],
    }


def schema_text() -> str:
    """The schema as written to `docs/event.schema.json`."""
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).resolve().parents[2] / "docs" / "event.schema.json"
    target.write_text(schema_text())
    print(f"wrote {target}")
