"""The audit log as its readers use it: keys, checkpoints, verification and export
(``log``), reading entries (``audit_entries``), inclusion proofs (``entry_proofs``),
re-checking what was logged (``verification``) and the witnesses that cosign checkpoints
(``witness``)."""
