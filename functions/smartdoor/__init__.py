"""Smart Door code shared by every Lambda: models, domain rules (no boto3) and adapters (boto3)."""
