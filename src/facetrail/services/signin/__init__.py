"""Signing in and staying signed in: passwords and second factors (``authentication``),
bearer tokens and their use (``tokens``), and enrolment of a new account's credentials with
their resets (``enrolment``)."""
