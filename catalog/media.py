"""Films' media files: the demo clips the store makes itself (a test picture with the
title and a running timecode, and a tone), reading a video's facts (duration, size,
format, codec) with PyAV, and storing a feature or trailer for a film.

Clips are MP4 (H.264 main profile, yuv420p; AAC-LC) with the index (moov) first, which
every browser plays and can seek in before it has the whole file. PyAV's wheels bundle
FFmpeg with libx264, so nothing beyond `pip install` is needed."""

from __future__ import annotations

import math
import os
import tempfile
import time
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import IO

from django.core.files import File
from django.db import transaction

from catalog.models import Genre, Vod, VodMedia, media_storage

FEATURE_SECONDS = 180.0  # long enough to watch past the 2-minute refund limit
TRAILER_SECONDS = 12.0

WIDTH, HEIGHT = 640, 360
FPS = 12  # a test picture needs no more; few frames keep the encode quick and small
SAMPLE_RATE = 48_000
AUDIO_BIT_RATE = 32_000  # mono pips of a pure tone
CRF = "30"  # x264 constant quality: the bars barely move, so the file stays small

# --- Reading a video's facts ----------------------------------------------------------

# Containers a staff upload may be, by FFmpeg's demuxer name. Anything else is refused,
# even when FFmpeg finds "video" in it (it reads plain text as ANSI art, an image as a
# one-frame video).
CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
    "ogg": "video/ogg",
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
    "flv": "video/x-flv",
}
WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


class NotAVideo(ValueError):
    """The file is not a video PyAV can read (or not a container a film can come in)."""


@dataclass(frozen=True)
class MediaInfo:
    """What a video file is, read from the file itself."""

    content_type: str
    duration_seconds: float
    size_bytes: int
    width: int
    height: int
    codec: str  # "video/audio" codec names, e.g. "h264/aac"; "h264" without sound


def media_probe(source: str | os.PathLike | IO[bytes]) -> MediaInfo:
    """The facts of a video file (a path or a seekable binary file, read from its
    start and left at its start), or `NotAVideo`."""
    import av  # FFmpeg: loaded only where media is handled

    if hasattr(source, "seek"):
        source.seek(0)
    try:
        with av.open(source, "r") as container:
            fmt = container.format.name
            videos, audios = container.streams.video, container.streams.audio
            if fmt not in CONTAINERS or not videos:
                raise NotAVideo(f"not a video file (FFmpeg reads it as {fmt!r})")
            video = videos[0]
            duration = _duration(container, video)
            if duration <= 0:
                raise NotAVideo("the video has no duration")
            # one decoded frame proves the video stream is more than a header
            next(container.decode(video=0))
            names = [video.codec_context.name] + ([audios[0].codec_context.name] if audios else [])
            content_type = CONTAINERS[fmt]
            if content_type == "video/webm" and not set(names) <= WEBM_CODECS:
                content_type = "video/x-matroska"
            elif content_type == "video/mp4" and container.metadata.get("major_brand") == "qt  ":
                content_type = "video/quicktime"
            info = MediaInfo(
                content_type=content_type,
                duration_seconds=round(duration, 3),
                size_bytes=_size(source),
                width=video.codec_context.width,
                height=video.codec_context.height,
                codec="/".join(names),
            )
    except (av.FFmpegError, StopIteration, UnicodeDecodeError) as exc:
        raise NotAVideo(f"not a readable video: {exc}") from exc
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    return info


def _duration(container, video) -> float:
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return 0.0


def _size(source: str | os.PathLike | IO[bytes]) -> int:
    if hasattr(source, "seek"):
        return source.seek(0, os.SEEK_END)
    return os.path.getsize(source)


# --- The test picture -----------------------------------------------------------------

# A 5x7 bitmap font of our own (capitals, digits, common punctuation), so drawing text
# needs no system font: each glyph is seven rows of five pixels.
FONT = {
    "A": "01110 10001 10001 10001 11111 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    "!": "00100 00100 00100 00100 00100 00000 00100",
    '"': "01010 01010 01010 00000 00000 00000 00000",
    "#": "01010 01010 11111 01010 11111 01010 01010",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "&": "01100 10010 10100 01000 10101 10010 01101",
    "'": "00100 00100 01000 00000 00000 00000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "*": "00000 00100 10101 01110 10101 00100 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    ";": "00000 01100 01100 00000 01100 00100 01000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "?": "01110 10001 00001 00010 00100 00000 00100",
    "@": "01110 10001 00001 01101 10101 10101 01110",
    "_": "00000 00000 00000 00000 00000 00000 11111",
}
GLYPH_W, GLYPH_H = 5, 7

# 75 % colour bars, as on a broadcast test card: grey, yellow, cyan, green, magenta,
# red, blue.
BARS = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191),
        (191, 0, 0), (0, 0, 191)]  # fmt: skip
GENRE_COLOURS = {
    Genre.ACTION: (220, 70, 40),
    Genre.ANIMATION: (250, 170, 30),
    Genre.COMEDY: (240, 210, 40),
    Genre.DOCUMENTARY: (60, 150, 90),
    Genre.DRAMA: (150, 60, 170),
    Genre.FANTASY: (80, 170, 220),
    Genre.HORROR: (150, 10, 20),
    Genre.ROMANCE: (230, 90, 150),
    Genre.SCI_FI: (40, 200, 200),
    Genre.THRILLER: (90, 90, 200),
}
BLACK, PANEL, TRACK, WHITE = (0, 0, 0), (36, 36, 36), (70, 70, 70), (235, 235, 235)


def yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """An sRGB colour as limited-range BT.709 Y, Cb, Cr (what the clip is tagged as)."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (
        round(16 + 219 * y),
        round(128 + 224 * (b - y) / 1.8556),
        round(128 + 224 * (r - y) / 1.5748),
    )


class Canvas:
    """A yuv420p picture as three byte planes. Rectangles start and end on even pixels,
    so that each one covers whole chroma samples."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.planes = [bytearray(width * height), bytearray(width * height // 4),
                       bytearray(width * height // 4)]  # fmt: skip

    def copy(self) -> Canvas:
        other = Canvas.__new__(Canvas)
        other.width, other.height = self.width, self.height
        other.planes = [bytearray(plane) for plane in self.planes]
        return other

    def fill(self, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int]) -> None:
        for plane, value, scale in zip(self.planes, yuv(rgb), (1, 2, 2), strict=True):
            stride, run = self.width // scale, bytes([value]) * (w // scale)
            for row in range(y // scale, (y + h) // scale):
                start = row * stride + x // scale
                plane[start : start + len(run)] = run

    def text(self, text: str, x: int, y: int, *, scale: int, background: tuple) -> None:
        """White capitals on a neutral background (only the luma plane is drawn)."""
        luma = self.planes[0]
        for ch in text:
            for row, line in enumerate(_glyph(ch, scale, yuv(WHITE)[0], yuv(background)[0])):
                start = (y + row) * self.width + x
                luma[start : start + len(line)] = line
            x += (GLYPH_W + 1) * scale


@cache
def _glyph(ch: str, scale: int, ink: int, paper: int) -> tuple[bytes, ...]:
    rows = []
    for bits in FONT.get(ch, FONT["?"]).split():
        line = b"".join(bytes([ink if bit == "1" else paper]) * scale for bit in bits)
        # the gap to the next character is part of the glyph
        rows.extend([line + bytes([paper]) * scale] * scale)
    return tuple(rows)


def printable(text: str) -> str:
    """Text in the font's characters: capitals, accents dropped, others as "?"."""
    out = []
    for ch in text.upper():
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in FONT for c in base) else "?")
    return "".join(out).strip() or "?"


def _title_lines(title: str, *, width: int) -> tuple[list[str], int]:
    """The title wrapped into at most two lines that fit, at the largest scale that
    fits (4, 3 or 2), shortened with "..." if even the smallest does not."""
    words = printable(title).split()
    for scale in (4, 3, 2):
        per_line = width // ((GLYPH_W + 1) * scale)
        lines: list[str] = []
        for word in words:
            if lines and len(lines[-1]) + 1 + len(word) <= per_line:
                lines[-1] += " " + word
            else:
                lines.append(word)
        if len(lines) <= 2 and all(len(line) <= per_line for line in lines):
            return lines, scale
    # too long even at the smallest scale: two lines, the second cut short
    lines = [line[:per_line] for line in lines[:2]]
    lines[-1] = lines[-1][: per_line - 3] + "..."
    return lines, 2


def timecode(frame: int, fps: int) -> str:
    """HH:MM:SS:FF, as a broadcast timecode."""
    seconds, frames = divmod(frame, fps)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frames:02d}"


def _frames(
    *, title: str, label: str, colour: tuple, seconds: float, fps: int
) -> Iterator[list[bytearray]]:
    """The clip's pictures (planes of yuv420p bytes), one per frame."""
    w, h = WIDTH, HEIGHT
    base = Canvas(w, h)
    edges = [round(i * w / len(BARS) / 2) * 2 for i in range(len(BARS) + 1)]
    for left, right, rgb in zip(edges, edges[1:], BARS, strict=False):
        base.fill(left, 0, right - left, 240, rgb)
    base.fill(0, 240, w, h - 240, BLACK)
    # the title panel, edged in the genre's colour
    lines, scale = _title_lines(title, width=w - 64)
    line_h = (GLYPH_H + 3) * scale
    panel_h = len(lines) * line_h + 2 * 14 + 24
    top = (240 - panel_h) // 4 * 2
    base.fill(24, top - 6, w - 48, panel_h + 12, colour)
    base.fill(24, top, w - 48, panel_h, PANEL)
    for n, line in enumerate(lines):
        x = (w - len(line) * (GLYPH_W + 1) * scale) // 2
        base.text(line, x, top + 14 + n * line_h, scale=scale, background=PANEL)
    base.text(label, (w - len(label) * 12) // 2, top + panel_h - 26, scale=2, background=PANEL)
    base.fill(24, 326, w - 48, 12, TRACK)

    total = round(seconds * fps)
    code_scale, code_w = 6, 11 * (GLYPH_W + 1) * 6
    picture = base.copy()
    filled = 0
    for n in range(total):
        picture.text(timecode(n, fps), (w - code_w) // 2, 262, scale=code_scale, background=BLACK)
        # the progress bar grows with the picture, never shrinks: draw only its new part
        reach = (round((w - 48) * (n + 1) / total) // 2) * 2
        if reach > filled:
            picture.fill(24 + filled, 326, reach - filled, 12, colour)
            filled = reach
        yield picture.planes


def _tone_second(rate: int) -> bytes:
    """One second of sound as 32-bit floats: a 1 kHz pip (200 ms, soft edges), then
    silence, so the seconds of the timecode can be heard too."""
    pip, ramp = rate // 5, rate // 200
    samples = array("f", bytes(4 * rate))
    for i in range(pip):
        envelope = min(1.0, i / ramp, (pip - i) / ramp)
        samples[i] = 0.3 * envelope * math.sin(2 * math.pi * 1000 * i / rate)
    return samples.tobytes()


def render_clip(
    path: str | os.PathLike,
    *,
    title: str,
    label: str = "",
    genre: str = "",
    seconds: float,
    fps: int = FPS,
) -> MediaInfo:
    """Write an MP4 clip of about `seconds` to `path`: colour bars, the title on a panel
    in the genre's colour, a running timecode and progress bar, a pip each second.
    Returns the file's facts, read back from it."""
    import av

    with av.open(
        os.fspath(path), "w", format="mp4", container_options={"movflags": "+faststart"}
    ) as container:
        video = container.add_stream(
            "libx264", rate=fps, options={"preset": "veryfast", "crf": CRF, "profile": "main"}
        )
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.gop_size = 2 * fps  # a keyframe every 2 s: quick seeking
        video.codec_context.colorspace = 1  # BT.709, as `yuv()` computes
        video.codec_context.color_primaries = 1
        video.codec_context.color_trc = 1
        video.codec_context.color_range = 1  # limited ("tv") range
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        audio.bit_rate = AUDIO_BIT_RATE

        colour = GENRE_COLOURS.get(genre, (128, 128, 128))
        for n, planes in enumerate(
            _frames(title=title, label=printable(label), colour=colour, seconds=seconds, fps=fps)
        ):
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            for plane, data in zip(frame.planes, planes, strict=True):
                plane.update(data)
            frame.pts, frame.time_base = n, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())

        tone = _tone_second(SAMPLE_RATE) * 2  # twice, so a frame may cross a second
        total, size = round(seconds * SAMPLE_RATE), 1024  # AAC's frame
        for start in range(0, total, size):
            count = min(size, total - start)
            frame = av.AudioFrame(format="flt", layout="mono", samples=count)
            offset = start % SAMPLE_RATE * 4
            frame.planes[0].update(tone[offset : offset + count * 4])
            frame.pts, frame.sample_rate = start, SAMPLE_RATE
            frame.time_base = Fraction(1, SAMPLE_RATE)
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return media_probe(path)


# --- Storing media for films ------------------------------------------------------------


def clip_seconds(
    kind: str, *, feature_seconds: float | None, trailer_seconds: float | None
) -> float:
    """How long the kind's clip is: the given length, or the default."""
    if kind == VodMedia.Kind.FEATURE:
        return FEATURE_SECONDS if feature_seconds is None else feature_seconds
    return TRAILER_SECONDS if trailer_seconds is None else trailer_seconds


def vod_media_missing(*, vod_id: int) -> list[str]:
    """The kinds (feature, trailer) the film has no stored file for: no row, or a row
    whose file is gone from the media storage."""
    have = {
        kind
        for kind, name in VodMedia.objects.filter(vod_id=vod_id).values_list("kind", "file")
        if name and media_storage().exists(name)
    }
    return [kind for kind in VodMedia.Kind.values if kind not in have]


def vod_media_generate(
    *,
    vod_id: int,
    force: bool = False,
    feature_seconds: float | None = None,
    trailer_seconds: float | None = None,
) -> list[tuple[str, MediaInfo, float]]:
    """Make the film's demo feature and trailer where it lacks them (every one with
    `force`), store them and record them. Returns (kind, facts, encode seconds) of each
    clip made."""
    vod = Vod.objects.only("id", "title", "genre").get(pk=vod_id)
    kinds = list(VodMedia.Kind.values) if force else vod_media_missing(vod_id=vod_id)
    made = []
    for kind in kinds:
        seconds = clip_seconds(
            kind, feature_seconds=feature_seconds, trailer_seconds=trailer_seconds
        )
        with tempfile.TemporaryDirectory(prefix="vodstore-clip-") as tmp:
            path = Path(tmp) / f"{kind}.mp4"
            started = time.monotonic()
            info = render_clip(
                path, title=vod.title, label=str(kind), genre=vod.genre, seconds=seconds
            )
            elapsed = time.monotonic() - started
            vod_media_store(vod_id=vod.id, kind=kind, path=path, info=info)
        made.append((kind, info, elapsed))
    return made


def vod_media_attach(*, vod_id: int, kind: str, path: str | os.PathLike) -> VodMedia:
    """Attach an existing video file to the film as its feature or trailer (replacing
    the one it had), after reading its facts; `NotAVideo` if it is none."""
    if kind not in VodMedia.Kind.values:
        raise ValueError(f"kind must be one of {', '.join(VodMedia.Kind.values)}, not {kind!r}")
    Vod.objects.only("id").get(pk=vod_id)
    return vod_media_store(vod_id=vod_id, kind=kind, path=path, info=media_probe(path))


def vod_media_store(
    *, vod_id: int, kind: str, path: str | os.PathLike, info: MediaInfo
) -> VodMedia:
    """Copy the file into the media storage and record it as the film's `kind`; the
    file it replaces is deleted once the new row is committed."""
    storage = media_storage()
    media = VodMedia(vod_id=vod_id, kind=kind)
    with open(path, "rb") as source:
        # the storage name comes from upload_to (vods/<film>/<kind>/<file name>)
        media.file.save(Path(path).name, File(source), save=False)
    new_name = media.file.name
    facts = {
        "file": new_name,
        "content_type": info.content_type,
        "duration_seconds": info.duration_seconds,
        "size_bytes": info.size_bytes,
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
    }
    try:
        with transaction.atomic():
            old = VodMedia.objects.select_for_update().filter(vod_id=vod_id, kind=kind).first()
            old_name = old.file.name if old else None
            media, _ = VodMedia.objects.update_or_create(vod_id=vod_id, kind=kind, defaults=facts)
            if old_name and old_name != new_name:
                transaction.on_commit(lambda: storage.delete(old_name))
    except BaseException:
        storage.delete(new_name)  # no row refers to it
        raise
    return media
