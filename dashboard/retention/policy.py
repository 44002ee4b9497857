"""The retention policy: how long events stay in the hot store and in the archive (profiles such as PCI DSS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dashboard.store.archive import add_months, month_start
from dashboard.store.errors import StoreError

if TYPE_CHECKING:
    from dashboard.config import Settings


PROFILES: dict[str, tuple[int, int] | None] = {
    "standard": None,  # hot_days and archive_months as configured
    "pci": (92, 9),  # PCI DSS 10.5.1: 12 months, the last 3 immediately available
}


class RetentionError(StoreError):
    """A retention action cannot be done as asked."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long events stay hot, and how long archived months are kept after that."""

    profile: str = "standard"
    hot_days: int = 90
    archive_months: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        """The policy of the configuration (a profile overrides the two periods)."""
        from dashboard.config import ConfigError

        if settings.retention_profile not in PROFILES:
            raise ConfigError(
                f"AUDITDASH_RETENTION_PROFILE={settings.retention_profile!r}: use one of {', '.join(PROFILES)}"
            )
        fixed = PROFILES[settings.retention_profile]
        hot, archive = fixed if fixed else (settings.hot_days, settings.archive_months)
        if hot < 1:
            raise ConfigError(f"AUDITDASH_HOT_DAYS={hot}: events must stay hot for at least one day")
        if archive < 0:
            raise ConfigError(f"AUDITDASH_ARCHIVE_MONTHS={archive} cannot be negative")
        return cls(settings.retention_profile, hot, archive)

    def hot_cutoff(self, now: datetime) -> datetime:
        """Events that occurred before this leave the hot store (whole months only)."""
        return month_start(now - timedelta(days=self.hot_days))

    def archive_cutoff(self, now: datetime) -> datetime:
        """Archived months before this are expired."""
        return add_months(self.hot_cutoff(now), -self.archive_months)

    def describe(self) -> str:
        """The policy in words."""
        return (
            f"{self.hot_days} days hot, then {self.archive_months} months in the archive "
            f"(profile {self.profile}); months move and expire whole"
        )

    def meets_pci(self) -> bool:
        """Whether at least 3 months stay hot and 12 months are kept in all (PCI DSS 10.5.1)."""
        return self.hot_days >= 92 and self.hot_days + self.archive_months * 31 >= 365
