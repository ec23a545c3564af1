"""Pages of the clip list: `next` links carry a cursor past the page's last clip (keyset
pagination: a page deep in a big library costs what the first does), read back here."""

from starlette.requests import Request

from app.catalog.database import PageCursor
from app.catalog.models import Media
from app.errors import Problem


def read_cursor(token: str | None) -> PageCursor | None:
    """The `cursor` query parameter; 422 for one this server never gave out."""
    if token is None:
        return None
    try:
        return PageCursor.parse(token)
    except ValueError:
        raise Problem(
            422,
            "The cursor is not one this server gave out: start again from the first page.",
            field="cursor",
        ) from None


def next_page_url(request: Request, items: list[Media], start: int, total: int) -> str | None:
    """This URL with a cursor past the last clip shown (and no offset), or None at the end."""
    shown = start + len(items)
    if not items or shown >= total:
        return None
    cursor = PageCursor.after(items[-1], shown)
    url = request.url.remove_query_params("offset").include_query_params(cursor=cursor.token())
    return str(url)
