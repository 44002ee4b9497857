"""Who may get in: dashboard users, their passwords, sessions and second factor, the login
throttle, and API tokens (docs/security.md)."""
