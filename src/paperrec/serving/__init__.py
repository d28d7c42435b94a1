"""Serving: the predictor that the CLI, the HTTP service and the digest share
(``predictor.py``: the champion models loaded, answering score, rank and recommend), what
the HTTP service needs that is not HTTP (``holder.py``: the predictor in use, reloads;
``access.py``: who may act; ``batcher.py``, ``arrays.py``, ``links.py``) and the service as
a process (``process.py``: how to start it, and as a child process).
"""
