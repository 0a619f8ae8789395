"""The HTTP API Lambda: owner approvals and the door keypad (API Gateway REST, Lambda proxy)."""
