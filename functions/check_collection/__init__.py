"""Workflow task: search the face collection again with the visit's stored photo."""
