"""The recommender: profile features, the learned ranker and its saved bundle, the lexical
(TF-IDF) view, baselines, ranking itself and explanations.
"""
