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

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from facetrail.governance.audit import canonical_details, entry_bytes
from facetrail.governance.checkpoints import Checkpoint, signature_ok
from facetrail.governance.merkle import EMPTY_ROOT, CompactRange, leaf_hash
from facetrail.governance.note import VerifierKey
from facetrail.governance.records import first_record_problem
from facetrail.governance.seal_findings import RowFinding, row_findings
from facetrail.governance.seals import SEAL_KIND
from facetrail.store.schema import AuditEntryRow, AuditHeadRow, AuditTileHashRow, CheckpointRow


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


#: Entries read from the database at a time while verifying (memory stays bounded).
BATCH = 10_000

#: Every entry's columns, in the log's order: what its bytes and recorded hash are made of.
ENTRY_ROWS = select(
    AuditEntryRow.seq,
    AuditEntryRow.at,
    AuditEntryRow.actor,
    AuditEntryRow.kind,
    AuditEntryRow.subject,
    AuditEntryRow.details,
    AuditEntryRow.agency,
    AuditEntryRow.leaf_hash,
).order_by(AuditEntryRow.seq)


@dataclass
class Walked:
    """One pass over the log: how many entries verified, the roots of the prefixes asked
    for, and the first failure (None: every entry's bytes give its recorded hash)."""

    size: int
    roots: dict[int, bytes]
    root: bytes
    failure: VerifyReport | None


def walk(
    session: Session,
    seals: list[tuple[int, dict[str, Any]]] | None = None,
    sizes: Sequence[int] = (),
    hashes: list[bytes] | None = None,
    tiles: dict[tuple[int, int], bytes] | None = None,
) -> Walked:
    """Recompute every entry's leaf hash in order, streaming (``BATCH`` rows at a time, the
    tree folded as it goes: memory does not grow with the log), with the roots of the
    prefixes of ``sizes`` entries. ``seals``: where to keep the ``row.seal`` entries' details
    as they are parsed (for ``row_findings``); ``hashes``: where to keep the leaf hashes (a
    caller that needs them all in memory); ``tiles``: where to keep the hash of each full
    tile, by (level, index), as ``audit_tile_hashes`` should hold it (one in 255 entries)."""
    wanted = set(sizes)
    roots = {0: EMPTY_ROOT} if 0 in wanted else {}
    compact = CompactRange()
    rows = session.execute(ENTRY_ROWS.execution_options(yield_per=BATCH))
    for position, row in enumerate(rows, start=1):
        value, parsed, problem = _leaf(position, *row)
        if value is None:
            rows.close()
            return Walked(position - 1, roots, b"", _fail(position - 1, problem, entry=position))
        if seals is not None and row.kind == SEAL_KIND and parsed is not None:
            seals.append((position, parsed))
        made: list[tuple[int, bytes]] | None = [] if tiles is not None else None
        compact.push(value, made)
        for level, tile in made or ():
            assert tiles is not None
            tiles[(level, (position >> (8 * level)) - 1)] = tile
        if hashes is not None:
            hashes.append(value)
        if position in wanted:
            roots[position] = compact.root()
    return Walked(compact.size, roots, compact.root(), None)


def _leaf(
    position: int,
    seq: int,
    at: str,
    actor: str,
    kind: str,
    subject: str,
    details: str,
    agency: str | None,
    stored: bytes,
) -> tuple[bytes | None, dict[str, Any] | None, str]:
    """(the entry's leaf hash, its details) when it is whole at ``position``, else (None,
    None, what is wrong)."""
    if seq != position:
        return None, None, f"entry {position} is missing (next entry found is {seq})"
    parsed, problem = canonical_details(details)
    if problem is not None:
        return None, None, f"entry {seq} was altered: its {problem}"
    value = leaf_hash(entry_bytes(seq, at, actor, kind, subject, details, agency))
    if value != stored:
        return None, None, f"entry {seq} was altered: its content does not match its recorded hash"
    return value, parsed, ""


def leaves(
    session: Session, seals: list[tuple[int, dict[str, Any]]] | None = None
) -> tuple[list[bytes], VerifyReport | None]:
    """Recomputed leaf hashes, all in memory, or a failure naming the first bad entry (for a
    witness that checks a log from its database and proves from it)."""
    hashes: list[bytes] = []
    walked = walk(session, seals, hashes=hashes)
    if walked.failure is not None:
        return [], walked.failure
    return hashes, None


def _fail(
    verified: int,
    problem: str,
    *,
    entry: int | None = None,
    checkpoint: str | None = None,
    checkpoints: int = 0,
) -> VerifyReport:
    return VerifyReport(False, verified, checkpoints, "", problem, entry, checkpoint)


def head_problem(session: Session, size: int, whole: bytes) -> str | None:
    """Why the log head disagrees with the entries (``size`` of them, root ``whole``): rows
    added or removed behind facetrail's back, or None. A home whose head was never written
    has nothing to compare."""
    row = session.get(AuditHeadRow, 1)
    if row is None:
        return None
    try:
        head = CompactRange.from_bytes(row.size, row.frontier)
    except ValueError:
        return "the log head is damaged"
    if head.size != size:
        return f"the log head records {head.size} entries, the log holds {size}"
    if head.root() != whole:
        return "the log head's root differs from the entries' root"
    return None


def tile_problem(session: Session, expected: dict[tuple[int, int], bytes]) -> str | None:
    """The first stored full-tile hash (``audit_tile_hashes``) that is not the one the entries
    give, missing, or one no full tile of the log has; None when they agree (or when the
    database is older than the table: ``audit verify --db`` of a copy made before it)."""
    if not inspect(session.connection()).has_table(AuditTileHashRow.__tablename__):
        return None
    stored = {
        (level, idx): bytes(value)
        for level, idx, value in session.execute(
            select(AuditTileHashRow.level, AuditTileHashRow.idx, AuditTileHashRow.hash)
        )
    }
    for key in sorted(expected.keys() | stored.keys()):
        level, idx = key
        if key not in stored:
            return f"the hash of tile {idx} of level {level} is missing"
        if key not in expected:
            return f"tile {idx} of level {level} is not a full tile of this log"
        if stored[key] != expected[key]:
            return f"the hash of tile {idx} of level {level} is not the entries' (edited)"
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
    origin = verifier.name
    checks = [(f"stored #{i}", c) for i, c in enumerate(stored_checkpoints(session, origin), 1)]
    checks += [(f"published #{i}", c) for i, c in enumerate(published, 1)]
    tiles: dict[tuple[int, int], bytes] = {}
    walked = walk(session, seals, [c.tree_size for _, c in checks], tiles=tiles)
    if walked.failure is not None:
        return walked.failure
    size, roots = walked.size, walked.roots
    expected_key = verifier.encode()
    previous = 0
    for label, cp in checks:
        if not signature_ok(verifier, cp):
            return _fail(
                size,
                f"checkpoint {label} (size {cp.tree_size}) is not signed by "
                f"this log's key {expected_key}",
                checkpoint=label,
            )
        if cp.tree_size > size:
            return _fail(
                size,
                f"log truncated: checkpoint {label} covers {cp.tree_size} "
                f"entries, the log has {size}",
                entry=size + 1,
                checkpoint=label,
            )
        if roots[cp.tree_size] != cp.root:
            first = previous + 1 if label.startswith("stored") else 1
            return _fail(
                size,
                f"entries {first}..{cp.tree_size} do not match the signed root "
                f"of checkpoint {label}: an entry there was altered, removed, "
                "reordered or the log was replaced",
                entry=first,
                checkpoint=label,
            )
        if label.startswith("stored"):
            previous = cp.tree_size
    problem = head_problem(session, size, walked.root)
    if problem is not None:  # rows added or removed where no checkpoint covers them
        return _fail(size, f"log head mismatch: {problem}", entry=size + 1)
    problem = tile_problem(session, tiles)
    if problem is not None:  # the tile hashes proofs are made from, edited
        return _fail(size, f"audit tile hashes: {problem}")
    whole = walked.root.hex()
    # The log is whole; every sealed row must be the one its last seal names, and none other.
    findings = tuple(row_findings(session, seals=seals))
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        problem = f"the database disagrees with the audit log: {findings[0]}{more}"
        return VerifyReport(False, size, len(checks), whole, problem, rows=findings)
    # Every record that authorises or reports an action must also agree with what the entry
    # that made it says (an edited policy, role, review or search is tampering).
    disagreement = first_record_problem(session)
    if disagreement is not None:
        record, how = disagreement
        problem = f"record disagrees with the audit log: {record}: {how}"
        return VerifyReport(False, size, len(checks), whole, problem)
    return VerifyReport(True, size, len(checks), whole)
