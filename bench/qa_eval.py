"""Quick quality check of the plan QA on a question set (default: the dev set)."""
