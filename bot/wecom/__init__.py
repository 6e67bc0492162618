"""WeCom (企业微信) AI bot: its long connection and its runner in `dangjian run`."""
