"""The plan: ingestion, segmentation, the ranked index, answers and the duty calendar."""
