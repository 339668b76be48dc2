"""Galleries and what fills them: galleries and their sources (``admin``), ingestion of
photos (``ingest``; private: ``_ingest_files``, ``_server_folders``), their search indexes
(``indexing``), background jobs (``jobs``), the model packs (``packs``) and their measured
accuracy (``evaluation``)."""
