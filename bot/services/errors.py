"""The one exception a service raises for a user's mistake; its text is the reply."""


class UserError(Exception):
    """A one-line Chinese reason (with usage where it helps), shown to the user as is."""


class RetryLater(UserError):
    """The database is unreachable for now; the user is told to try again shortly."""

    def __init__(self) -> None:
        super().__init__("系统暂时繁忙（数据库不可用），请稍后重试。")
