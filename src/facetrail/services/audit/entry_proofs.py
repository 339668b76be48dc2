"""One audit entry, opened on its own with its inclusion proof: the hashes that show the entry
is in the tree a signed checkpoint commits to, which anyone can check offline against the
log's public key (``facetrail audit prove``).

Authorisation: the entry is read through ``audit_entries.list_entries``, so the same people
read the same entries: a system admin any, an auditor or agency head those made by people of
their own agency. An entry the actor may not read (another agency's, the system's) answers as
not found, exactly as one that does not exist. Audit: the read is ``audit.read`` (by
``list_entries``, with the position asked for) and a role refusal ``audit.read.refused``; an
entry not found is ``audit.entry.refused``. The proof holds hashes only
(``audit.prove_entry``), never another entry's content."""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.errors import InvalidRequestError, NotFoundError
from facetrail.governance.credentials import Principal
from facetrail.services.audit.audit_entries import AuditEntryQuery, AuditEntryView, list_entries
from facetrail.services.audit.log import InclusionProof, checkpoint_list, prove_entry
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import refuse

__all__ = ["EntryProof", "show_entry"]


@dataclass(frozen=True)
class EntryProof:
    entry: AuditEntryView
    #: the inclusion proof, or None when there is none yet (see ``problem``)
    proof: InclusionProof | None
    #: when the checkpoint the proof is against was signed; None: against the log as it
    #: stands, no checkpoint signed yet
    checkpoint_at: str | None
    #: why there is no proof (the entry is newer than the last checkpoint), or None
    problem: str | None


def show_entry(ctx: AppContext, actor: Principal, seq: int) -> EntryProof:
    """Entry ``seq`` with its inclusion proof in the latest checkpointed tree."""
    found = list_entries(ctx, actor, AuditEntryQuery(after=seq - 1, limit=1))
    if not found or found[0].seq != seq:
        refuse(
            ctx,
            actor.username,
            "audit.entry",
            f"audit:{seq}",
            NotFoundError("no such entry", subject=str(seq)),
        )
    checkpoints = checkpoint_list(ctx)
    signed = max((int(str(c["tree_size"])) for c in checkpoints), default=None)
    if signed is not None and seq > signed:
        return EntryProof(
            found[0],
            None,
            None,
            f"newer than the last signed checkpoint (of {signed} entries): "
            "the next checkpoint will include it",
        )
    try:
        proof = prove_entry(ctx, seq)
    except InvalidRequestError as error:  # the log does not verify: no proof can be made
        return EntryProof(found[0], None, None, error.message)
    at = [str(c["at"]) for c in checkpoints if c["tree_size"] == proof.tree_size]
    return EntryProof(found[0], proof, at[-1] if at else None, None)
