"""Papers coming in: one parser per input (``sources/``), ingest into the store, a user's seed
papers, the input rows of ``score``/``rank``, and the embedder that turns papers into vectors.

Only ``sources/arxiv_api.py`` touches the network.
"""
