"""Template filters for watch progress: a position as a timecode, and the share of a
film watched."""

from django import template

register = template.Library()


@register.filter
def timecode(seconds) -> str:
    """3725.4 → "1:02:05"; 65 → "1:05"."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def watched_share(progress) -> int | None:
    """How much of the film the position is into, in whole per cent (None: its length
    is not known)."""
    if not progress or not progress.duration_seconds:
        return None
    return max(0, min(100, round(100 * progress.position_seconds / progress.duration_seconds)))
