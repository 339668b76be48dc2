"""People's rights over the galleries: erasure on request under four eyes (``erasure``),
legal holds that keep a case's evidence (``legal_holds``), and retention, which purges what
is kept no longer (``retention``; the purge itself is private: ``_purge``)."""
