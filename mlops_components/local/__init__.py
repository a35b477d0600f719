"""The local runtime: the generated pipeline definition executed on this machine."""
