"""Offline verification of the audit log: from the database and the public key alone.

Every entry's hash is recomputed from its columns, its stored details must be exactly their
canonical JSON (no duplicate key, no other spacing), positions must run 1..n without a gap,
and every checkpoint (stored, or published copies given by the caller) must carry a valid
signature of this key over the root of exactly that prefix of the log. The first failure is
reported with the entry (or checkpoint) it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.audit import canonical_details, entry_bytes
from facetrail.governance.checkpoints import Checkpoint, signature_ok
from facetrail.governance.merkle import CompactRange, leaf_hash, prefix_roots, root
from facetrail.governance.note import VerifierKey
from facetrail.governance.records import first_record_problem
from facetrail.governance.seal_findings import RowFinding, row_findings
from facetrail.governance.seals import SEAL_KIND
from facetrail.store.schema import AuditEntryRow, AuditHeadRow, CheckpointRow


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    root: str
    problem: str | None = None
    first_bad_entry: int | None = None
    bad_checkpoint: str | None = None
    #: every row that disagrees with the log's seals (table, key, how, columns)
    rows: tuple[RowFinding, ...] = ()


def stored_checkpoints(session: Session, origin: str = "") -> list[Checkpoint]:
    """The checkpoints kept in the database, oldest first; ``origin`` is the log's name (the
    rows hold everything else of the signed note)."""
    rows = session.scalars(select(CheckpointRow).order_by(CheckpointRow.id)).all()
    return [Checkpoint(origin, r.tree_size, r.root, r.at, r.key_id, r.signature) for r in rows]


def leaves(
    session: Session, seals: list[tuple[int, dict[str, Any]]] | None = None
) -> tuple[list[bytes], VerifyReport | None]:
    """Recomputed leaf hashes, or a failure naming the first bad entry. ``seals``: where to
    keep the ``row.seal`` entries' details as they are parsed (for ``row_findings``)."""
    out: list[bytes] = []
    stmt = select(
        AuditEntryRow.seq,
        AuditEntryRow.at,
        AuditEntryRow.actor,
        AuditEntryRow.kind,
        AuditEntryRow.subject,
        AuditEntryRow.details,
        AuditEntryRow.agency,
        AuditEntryRow.leaf_hash,
    ).order_by(AuditEntryRow.seq)
    for position, (seq, at, actor, kind, subject, details, agency, stored) in enumerate(
        session.execute(stmt), start=1
    ):
        if seq != position:
            return out, _fail(
                out, f"entry {position} is missing (next entry found is {seq})", entry=position
            )
        parsed, problem = canonical_details(details)
        if problem is not None:
            return out, _fail(out, f"entry {seq} was altered: its {problem}", entry=seq)
        if seals is not None and kind == SEAL_KIND and parsed is not None:
            seals.append((seq, parsed))
        value = leaf_hash(entry_bytes(seq, at, actor, kind, subject, details, agency))
        if value != stored:
            return out, _fail(
                out,
                f"entry {seq} was altered: its content does not match its recorded hash",
                entry=seq,
            )
        out.append(value)
    return out, None


def _fail(
    leaves_so_far: Sequence[bytes],
    problem: str,
    *,
    entry: int | None = None,
    checkpoint: str | None = None,
    checkpoints: int = 0,
) -> VerifyReport:
    return VerifyReport(False, len(leaves_so_far), checkpoints, "", problem, entry, checkpoint)


def head_problem(session: Session, hashes: Sequence[bytes]) -> str | None:
    """Why the log head disagrees with the entries (rows added or removed behind facetrail's
    back), or None. A home whose head was never written has nothing to compare."""
    row = session.get(AuditHeadRow, 1)
    if row is None:
        return None
    try:
        head = CompactRange.from_bytes(row.size, row.frontier)
    except ValueError:
        return "the log head is damaged"
    if head.size != len(hashes):
        return f"the log head records {head.size} entries, the log holds {len(hashes)}"
    if head.root() != root(hashes):
        return "the log head's root differs from the entries' root"
    return None


def verify_log(
    session: Session, verifier: VerifierKey, published: Sequence[Checkpoint] = ()
) -> VerifyReport:
    """Check every entry and every checkpoint; ``published`` adds checkpoints kept outside.

    This proves the log is what the checkpoints it is shown say; a log wiped or cut together
    with its checkpoints is caught only against checkpoints kept outside (``published``, or a
    witness: ``facetrail audit witness``).
    """
    seals: list[tuple[int, dict[str, Any]]] = []
    hashes, failure = leaves(session, seals)
    if failure is not None:
        return failure
    origin = verifier.name
    checks = [(f"stored #{i}", c) for i, c in enumerate(stored_checkpoints(session, origin), 1)]
    checks += [(f"published #{i}", c) for i, c in enumerate(published, 1)]
    expected_key = verifier.encode()
    roots = prefix_roots(hashes, [c.tree_size for _, c in checks if c.tree_size <= len(hashes)])
    previous = 0
    for label, cp in checks:
        if not signature_ok(verifier, cp):
            return _fail(
                hashes,
                f"checkpoint {label} (size {cp.tree_size}) is not signed by "
                f"this log's key {expected_key}",
                checkpoint=label,
            )
        if cp.tree_size > len(hashes):
            return _fail(
                hashes,
                f"log truncated: checkpoint {label} covers {cp.tree_size} "
                f"entries, the log has {len(hashes)}",
                entry=len(hashes) + 1,
                checkpoint=label,
            )
        if roots[cp.tree_size] != cp.root:
            first = previous + 1 if label.startswith("stored") else 1
            return _fail(
                hashes,
                f"entries {first}..{cp.tree_size} do not match the signed root "
                f"of checkpoint {label}: an entry there was altered, removed, "
                "reordered or the log was replaced",
                entry=first,
                checkpoint=label,
            )
        if label.startswith("stored"):
            previous = cp.tree_size
    problem = head_problem(session, hashes)
    if problem is not None:  # rows added or removed where no checkpoint covers them
        return _fail(hashes, f"log head mismatch: {problem}", entry=len(hashes) + 1)
    whole = root(hashes).hex()
    # The log is whole; every sealed row must be the one its last seal names, and none other.
    findings = tuple(row_findings(session, seals=seals))
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        problem = f"the database disagrees with the audit log: {findings[0]}{more}"
        return VerifyReport(False, len(hashes), len(checks), whole, problem, rows=findings)
    # Every record that authorises or reports an action must also agree with what the entry
    # that made it says (an edited policy, role, review or search is tampering).
    disagreement = first_record_problem(session)
    if disagreement is not None:
        record, how = disagreement
        problem = f"record disagrees with the audit log: {record}: {how}"
        return VerifyReport(False, len(hashes), len(checks), whole, problem)
    return VerifyReport(True, len(hashes), len(checks), whole)
