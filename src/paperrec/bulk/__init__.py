"""Bulk embedding and scoring: one batch function (`batch`) run in this process or spread
over a Ray cluster (`on_ray`, the only module that imports Ray), results written by shard
(`shards`) and loaded into the store; the jobs behind ``paperrec embed``, ``score`` and
``backfill`` (`jobs`, `backfill`)."""
