"""Security monitoring: detection rules, the engine that runs them, alerts, notifications, review.

* `rules` loads and validates the rules file (`rules.yaml`, Sigma-style correlations);
* `engine` runs each rule type as set-based DuckDB SQL over a time scope (`sql` builds the parts);
* `alerts` folds findings into de-duplicated alerts with their evidence, and serves actions;
* `notify` queues and delivers notifications (signed webhook, e-mail, digest);
* `service` runs detection incrementally as events arrive, over any period, and on a schedule;
* `review` is the daily review (PCI DSS 10.4.1) and its sign-offs; `present` what pages show;
* `quality` measures precision and recall against a ground truth; the commands are in dashboard/cli/detect.py.

See docs/detections.md.
"""
