"""auditdash: a compliance dashboard for the audit logs of a customer-support platform."""

__version__ = "0.1.0"
