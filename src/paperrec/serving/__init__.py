"""Serving: the predictor that the CLI, the HTTP service and the digest share
(``predictor.py``: the champion models loaded, answering score, rank and recommend), what
the HTTP service needs that is not HTTP (``holder.py``: the predictor in use, reloads,
authorization) and the service as a child process (``process.py``).
"""
