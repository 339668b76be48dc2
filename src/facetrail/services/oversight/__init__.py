"""Oversight: what an agency's head sees (``agency``), misuse alerts (``alerts``; private:
``_alert_facts``), periodic digests (``digests``), public transparency reports
(``reports``, ``report_formats``, ``published_accuracy``), an agency's search policy and its
changes under four eyes (``policy``, ``policy_proposals``), and who reads the service's
metrics (``monitoring``)."""
