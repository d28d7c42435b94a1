"""The recommender: profile features, the learned ranker, baselines and ranking itself."""
