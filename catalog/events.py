"""The events the catalog publishes."""

from dataclasses import dataclass

from vodstore.events import Event


@dataclass(frozen=True)
class VodRegistered(Event):
    """A film was added to the catalog."""

    vod_id: int
    title: str
    genre: str
    price: int
