"""The digest: who is due on a date (``due.py``, with the cadences and budgets of
``budget.py``) and which papers (``compose.py``), what the digest says (``content.py``:
items, signed feedback links, trending), rendering it to email, HTML, Markdown and JSON
(``render.py``, ``templates/``) and to files (``files.py``), the outbox run with retries
(``delivery.py``), SMTP, the only code that speaks it (``mailer.py``), and one run of all
of it as a library call that yields events (``run.py``: `run_digests`, which ``paperrec
digest`` and ``bench/digest.py`` print).
"""
