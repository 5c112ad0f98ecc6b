"""`obsctl provision`: bring the live Grafana, Loki ruler, Prometheus and Alertmanager to what the generated tree says.

Read top to bottom: config (targets from the environment) -> generated (desired objects from the files on disk)
-> plan (live vs desired, normalised) -> drift (hand edits since the last apply) -> apply (ordered writes with
retries, safety checks and a report of what was and was not applied).
"""
