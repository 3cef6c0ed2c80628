"""Kaldi data directories, audio I/O, resampling, datasets, samplers, tokenizers, augmentation."""
