"""The declarative platform spec: pydantic models and the YAML loader."""
