"""Annotated dependencies: the app's parts, taken from app.state set by the factory."""

from typing import Annotated

from fastapi import Depends, Request

from app.catalog.database import Catalog
from app.config import Settings
from app.library import Library


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_library(request: Request) -> Library:
    library: Library = request.app.state.library
    return library


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
LibraryDep = Annotated[Library, Depends(get_library)]
