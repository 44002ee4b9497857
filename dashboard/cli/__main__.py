"""`python -m dashboard.cli`: the `auditdash` command."""

from dashboard.cli import main

raise SystemExit(main())
