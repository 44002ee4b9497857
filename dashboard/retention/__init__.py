"""Retention: the policy, legal holds, the purge that archives old months, and restore
(docs/integrity.md)."""
