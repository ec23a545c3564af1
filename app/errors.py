"""The one error every layer may raise for a request it must refuse: a status and a sentence a
person can act on. It imports nothing of ours; app.api.problems turns it into problem+json."""


class Problem(Exception):
    """An error with a sentence a person can act on."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers
