"""Searching, governed: a search asked for, approved, run and scored (``search``, with the
request's shapes in ``search_model``), its stored result read back (``results``), reviewed
by two people (``review``), listed (``listings``), and its probe previewed or shown
(``probe_preview``, ``probe_views``). Private: the policy a search runs under
(``_search_policy``), what it stores (``_search_store``), the scoring (``_matching``) and
what opt-outs and the block list withhold (``_suppression``, ``_blocklist``)."""
