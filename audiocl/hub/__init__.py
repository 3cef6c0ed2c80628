"""Model hub: resolve a model reference (path, URL, registry name, ``hf:`` id), download it safely,
cache it, convert foreign checkpoints into audiocl releases (safetensors), load it.

    from audiocl.hub import from_pretrained, resolve
    path = resolve("wav2vec2-base-fairseq")        # release folder in the cache
    model, cfg = from_pretrained("hf:org/name@<commit>")
"""

from audiocl.hub.resolver import from_pretrained, resolve

__all__ = ["resolve", "from_pretrained"]
