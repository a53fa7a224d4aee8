"""The consumer-group ids of the windows stage, derived from ``KAFKA__GROUP_ID``: one place
for the service (consumer.windows_stage.wiring), the ACLs it needs (consumer.kafka.acls)
and the bench."""

from __future__ import annotations

WINDOWS_SUFFIX = "-windows"
RESTORE_SUFFIX = "-restore"


def windows_group(group_id: str) -> str:
    """The windows stage's group for the scoring stage's ``group_id`` (kept as it is when
    it already ends in ``-windows``). Pure."""
    return group_id if group_id.endswith(WINDOWS_SUFFIX) else group_id + WINDOWS_SUFFIX


def restore_group(windows_group_id: str) -> str:
    """The group id of the windows stage's restore consumer (it only assigns changelog
    partitions, never joins the group or commits). Pure."""
    return windows_group_id + RESTORE_SUFFIX
