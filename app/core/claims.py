"""The claims the service's own callers carry into the database (row-level security reads them, and the
audit columns record the subject as who acted). Each background caller says who it is."""

from __future__ import annotations

from typing import Any

Claims = dict[str, Any]

# The cron's scheduled cycles.
SCHEDULER: Claims = {"role": "service_role", "sub": "autonomous-ops-scheduler"}
# The scoped evaluations of the trigger rules when metrics arrive.
TRIGGER_LISTENER: Claims = {"role": "service_role", "sub": "autonomous-ops-trigger-listener"}
# The metric partitions: made ahead, and the hours past retention rolled up into days.
PARTITIONS: Claims = {"role": "service_role", "sub": "autonomous-ops-partitions"}
# The public image route Instagram fetches from: it reads a campaign's image URL, nothing else.
MEDIA: Claims = {"role": "service_role", "sub": "autonomous-ops-media"}
# The ad account syncs: they write what the platforms report.
SYNC: Claims = {"role": "service_role", "sub": "autonomous-ops-sync"}
# The platform change sender: it records what the platforms did with the engine's changes.
SENDER: Claims = {"role": "service_role", "sub": "autonomous-ops-sender"}
# A person deciding on a proposal through a signed link (the link is the credential).
APPROVAL_LINK: Claims = {"role": "service_role", "sub": "approval link"}
