"""facetrail.governance: accounts, policy, the tamper-evident audit log, alerts."""
