"""The canonical data model and mapping machinery: pure pydantic + stdlib, no I/O."""
