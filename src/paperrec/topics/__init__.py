"""Topics: the YAML taxonomy (``taxonomy.py``, default in ``taxonomy.yaml``), weak labels from
labeling functions (``labeling/``), the multi-label classifier (``classify.py``) and the saved
topic bundle that tags papers (``model.py``).
"""
