"""Telegram handlers, one module per feature; each exports HANDLERS."""
