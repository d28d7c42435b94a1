"""Serving: the engine that the CLI, the HTTP service and the digest share (``engine.py``),
what the HTTP service needs that is not HTTP (``holder.py``: the engine in use, reloads,
authorization) and the service as a child process (``process.py``).
"""
