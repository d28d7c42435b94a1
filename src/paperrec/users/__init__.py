"""Readers: profiles with their seed papers and feedback (``profiles.py``), and who may act for
a user, signed feedback-link tokens and API keys (``tokens.py``).

Its own package because both the digest (links in the email) and serving (clicks, API keys)
use it, and neither should import the other for that.
"""
