"""Corpus preparation (synthetic mini_tts, LibriSpeech, real smoke-test utterances): data dirs from raw corpora."""
