"""Training, evaluation and significance statistics for ERC classifiers."""
