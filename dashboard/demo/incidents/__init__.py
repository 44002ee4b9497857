"""Planted incidents, one module per family: sign-in attacks (`attacks`), travel (`travel`),
privilege abuse (`privilege`), bulk access at night (`night_access`) and a silent log source
(`silence`); `planner` decides their days and order, `base` holds what they share."""
