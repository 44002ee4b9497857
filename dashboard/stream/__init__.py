"""Streaming the audit log out to SIEMs: syslog (TLS, TCP, UDP) and HTTP(S) (NDJSON, Splunk HEC).

Each destination (`destinations.Destination`, read from `AUDITDASH_STREAMS` or made on the Streams
page and stored in `stream_destinations`, both checked by `destinations.destination_from`) has a filter (the
sidebar's `Filters`, given as URL query text), a format (contract JSON, OCSF 1.1, CEF) and its own
cursor (`stream_state.last_seq`): every matching event up to the cursor was acknowledged by the
destination. `service.StreamService` delivers in sequence order, at least once, in batches; the
cursor moves only after the destination acknowledged a batch, so a restart or an outage resumes
where delivery stopped (docs/connectors.md, "Streaming out").

Layer: imports config, events, store and filters; never web/ or cli/.
"""
