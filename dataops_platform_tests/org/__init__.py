"""An organisation of its own on the platform: minimal specs, overrides, the self-description, the import graph."""
