"""党建助手: wiring of settings, services, the Telegram application and the CLI."""
