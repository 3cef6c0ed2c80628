"""Metrics: WER/CER, accuracies, retrieval, linear/SVM probes."""
