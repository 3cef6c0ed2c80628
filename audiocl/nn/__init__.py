"""Neural building blocks: encoders, transformers, quantizers, heads. No training loops here."""
