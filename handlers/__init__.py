"""The conversation flows, one module per feature, written once for every platform; each
exports ROUTES for the core (bot/core.py)."""
