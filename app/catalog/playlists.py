"""Playlists in the catalog: ordered series of clips, each clip checked to exist as it is put in.

A clip deleted from the library leaves its playlists by the database's cascade; nothing here
has to remember to do it.
"""

from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.database import ID_RE, Catalog, PageCursor, new_id
from app.catalog.models import Media, Playlist, PlaylistItem, utcnow

EDITABLE = frozenset({"title", "description"})


class UnknownClips(LookupError):
    """Some of the clips asked for are not in the library (`ids`, in the order given)."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = list(ids)


class Playlists:
    """Every playlist record, over the catalog's database; each call its own short session."""

    def __init__(self, catalog: Catalog) -> None:
        self._read = sessionmaker(catalog.engine, expire_on_commit=False)
        # SQLite: a writer takes the write lock up front (see database._on_sqlite_begin).
        writer = catalog.engine.execution_options(amps_write=True)
        self._write = sessionmaker(writer, expire_on_commit=False)

    def create(self, title: str, description: str, media_ids: Sequence[str]) -> Playlist:
        with self._write() as session, session.begin():
            playlist = Playlist(id=new_id(), title=title, description=description)
            session.add(playlist)
            _place(session, playlist, media_ids)
        return self.get(playlist.id) or playlist

    def get(self, playlist_id: str) -> Playlist | None:
        with self._read() as session:
            return session.get(Playlist, playlist_id)

    def list(
        self, *, offset: int = 0, limit: int = 20, after: PageCursor | None = None
    ) -> tuple[list[Playlist], int]:
        """A page of playlists, newest first, and how many there are (keyset with `after`)."""
        page = select(Playlist)
        if after is not None:
            page = page.where(
                tuple_(Playlist.created_at, Playlist.id) < (after.created_at, after.id)
            )
        else:
            page = page.offset(offset)
        page = page.order_by(Playlist.created_at.desc(), Playlist.id.desc()).limit(limit)
        with self._read() as session, session.begin():
            items = list(session.scalars(page))
            total = session.scalar(select(func.count()).select_from(Playlist)) or 0
        return items, total

    def update(
        self, playlist_id: str, media_ids: Sequence[str] | None = None, **fields: str
    ) -> Playlist | None:
        """Change the title or description, and with `media_ids` the clips and their order;
        None when there is no such playlist."""
        unknown = set(fields) - EDITABLE
        if unknown:
            raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
        with self._write() as session, session.begin():
            playlist = session.get(Playlist, playlist_id)
            if playlist is None:
                return None
            for name, value in fields.items():
                setattr(playlist, name, value)
            if media_ids is not None:
                playlist.items.clear()  # the old places go first: new ones reuse positions
                session.flush()
                _place(session, playlist, media_ids)
            playlist.updated_at = utcnow()
        return self.get(playlist_id)

    def delete(self, playlist_id: str) -> bool:
        with self._write() as session, session.begin():
            playlist = session.get(Playlist, playlist_id)
            if playlist is not None:
                session.delete(playlist)
        return playlist is not None


def _place(session: Session, playlist: Playlist, media_ids: Sequence[str]) -> None:
    """Put the clips in, in this order; UnknownClips (and nothing written) for any not found."""
    # What cannot be an id is not asked for (PostgreSQL refuses NUL in a query, for one).
    wanted = {m for m in media_ids if ID_RE.match(m)}
    found = set(session.scalars(select(Media.id).where(Media.id.in_(wanted))))
    missing = [m for m in dict.fromkeys(media_ids) if m not in found]
    if missing:
        raise UnknownClips(missing)
    session.add_all(
        PlaylistItem(playlist_id=playlist.id, position=i, media_id=m)
        for i, m in enumerate(media_ids)
    )
