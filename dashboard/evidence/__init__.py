"""Evidence that the audit log is intact: the hash chain checked, checkpoints signed, and the
outcome of every verification recorded (docs/integrity.md)."""
