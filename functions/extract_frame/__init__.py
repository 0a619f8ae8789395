"""Workflow task: store the visit's frame and face crop in S3."""
