"""Model hub: registry, download + checksum + cache, safetensors I/O, checkpoint converters."""
