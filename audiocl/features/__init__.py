"""Kaldi-compatible acoustic features (fbank, MFCC, log-mel), CMVN and feature writers."""
