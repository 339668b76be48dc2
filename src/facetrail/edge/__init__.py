"""What facetrail's two HTTP edges share, below both: the REST API (``facetrail.api``) and the
web app (``facetrail.web``) each parse a request and call a service, and both take from here
the request's context and signed-in person (``deps``: the session cookie, bearer tokens, the
CSRF value), uploads (``uploads``), rate limits (``limits``), problem answers (``problems``)
and the headers every page carries (``headers``). Neither edge imports the other;
``facetrail.server`` puts them together into one app."""
