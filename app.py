"""Run the dashboard: `python app.py` is the same as `auditdash serve`."""

from dashboard.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve"]))
