"""The digest: who is due and which papers (``budget.py``, ``compose.py``), rendering it to
email, HTML, Markdown and JSON (``render.py``, ``templates/``), the outbox run with retries
(``delivery.py``) and SMTP, the only code that speaks it (``mailer.py``).
"""
