"""Workflow task: index an approved visitor's face under a new visitorId."""
