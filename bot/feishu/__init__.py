"""The Feishu (飞书) adapter: the Open Platform client (api.py) and the HTTP callback's
verification and decryption (events.py), on the official SDK lark-oapi."""
