"""The DingTalk (钉钉) adapter: the server API client (api.py) and the Stream connection
(stream.py, on the official SDK dingtalk-stream), run inside `dangjian run` by runner.py."""
