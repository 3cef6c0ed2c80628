"""Assembled models: wav2vec 2.0, CPC, time-series contrastive, downstream CTC and classifiers."""
