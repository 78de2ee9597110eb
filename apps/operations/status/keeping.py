"""The status sections of what Kirby keeps: retention policies and backups."""

from apps.operations.backups.catalog import backup_summary
from apps.operations.retention import policy_rows
from apps.operations.status.judge import AMBER, GREEN, RED, verdict


def retention_section():
    policies = policy_rows()
    failed = [f"{p['name']}: {p['last_error']}" for p in policies if p["last_error"]]
    judged = verdict(AMBER, "; ".join(failed)) if failed else verdict(GREEN, f"{len(policies)} policies")
    return {"policies": policies, **judged}


def backups_section(now):
    summary = backup_summary(now)
    age, limit = summary["newest_verified_age_seconds"], summary["verified_max_age_seconds"]
    if age is not None and age > limit:
        judged = verdict(RED, f"the newest verified backup is {age / 86400:.1f} days old")
    elif summary["last_failed"]:
        judged = verdict(AMBER, f"backup {summary['last_failed']['id']} failed: {summary['last_failed']['error']}")
    elif age is None:
        # A fresh install has none yet; the alert (kirby_backup_newest_verified_age_seconds) says when it is late.
        judged = verdict(GREEN, "no backup verified by a restore yet")
    else:
        judged = verdict(GREEN, f"newest verified backup {age / 3600:.1f} h old")
    return {**summary, **judged}
