"""Playing media: short-lived signed tokens saying who may fetch which film's video, and
the response that sends a media file's bytes (by Django with HTTP Range, by the web
server through `X-Accel-Redirect`, or by a redirect to object storage).

Shared infrastructure: it knows no app. A media file is anything shaped like catalog's
`MediaFile` (`name` in the "media" storage, `content_type`)."""

import inspect
import re
from typing import Protocol
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import storages
from django.core.signing import BadSignature, TimestampSigner
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)

# A salt of its own: a token signed for anything else (a session, a password reset...)
# is never a media token, and the other way round.
SIGNING_SALT = "vodstore.streaming.media-token"
# Bytes read from the storage and handed to the server at a time: the memory a request
# holds, whatever the file's size.
CHUNK_BYTES = 64 * 1024
# Bigger numbers than any file's size mean the same as "to the end": no need to parse
# them (Python refuses to turn over 4,300 digits into an int).
_HUGE = 10**30
_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE = re.compile(r"-([0-9]+)")


class MediaFile(Protocol):
    name: str
    content_type: str


class RangeNotSatisfiable(Exception):
    """The Range header is malformed or asks only for bytes past the end (416)."""


def ttl_seconds() -> int:
    """How long a media token (and a response sent for it) lives."""
    return settings.MEDIA_URL_TTL_SECONDS


# --- Tokens ------------------------------------------------------------------------------


def media_token(*, user_id: int, vod_id: int, kind: str) -> str:
    """A token that lets `user_id` fetch the `kind` video of film `vod_id` for the next
    `MEDIA_URL_TTL_SECONDS`. It is signed with the site's secret key and carries its
    time; it is no use to anyone else (the view also checks the signed-in user)."""
    if not kind.isalpha():
        raise ValueError(f"a media kind is a word: {kind!r}")
    return TimestampSigner(salt=SIGNING_SALT).sign(f"{int(user_id)}.{int(vod_id)}.{kind}")


def read_media_token(token: str) -> tuple[int, int, str]:
    """(user_id, vod_id, kind) of a token made by `media_token`. Raises
    `django.core.signing.SignatureExpired` when it is older than
    `MEDIA_URL_TTL_SECONDS` and `BadSignature` (its base class) when it is forged,
    altered or not a token at all."""
    value = TimestampSigner(salt=SIGNING_SALT).unsign(token, max_age=ttl_seconds())
    parts = value.split(".")
    # signed with this salt by `media_token` only, so never seen in practice
    if len(parts) != 3 or not (parts[0].isdecimal() and parts[1].isdecimal()):
        raise BadSignature("not a media token")
    return int(parts[0]), int(parts[1]), parts[2]


# --- Range (RFC 9110, section 14) ----------------------------------------------------------


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= 30 else _HUGE


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last), both included, that a `Range` header asks of
    a representation of `size` bytes; None to send the whole representation. Raises
    `RangeNotSatisfiable` (416) when the header is a malformed byte range or asks only
    for bytes past the end.

    None when there is no header, the unit is not bytes (RFC 9110 14.2: "MUST ignore"),
    the representation is empty, or several ranges are asked for: a server may ignore
    a Range header, and one whole answer is simpler and safer than a multipart one
    (no player asks for several ranges at once)."""
    unit, equals, range_set = header.partition("=")
    if not equals or unit.strip().lower() != "bytes" or size == 0:
        return None
    # a list: elements separated by commas and optional whitespace; empty ones are
    # allowed and mean nothing (RFC 9110 5.6.1)
    specs = [spec.strip(" \t") for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]
    ranges = []
    for spec in specs:
        if match := _INT_RANGE.fullmatch(spec):
            first = _position(match[1])
            last = _position(match[2]) if match[2] else _HUGE
            if last < first:  # invalid (RFC 9110 14.1.1); a server may reject it
                raise RangeNotSatisfiable(spec)
            ranges.append((first, last))
        elif match := _SUFFIX_RANGE.fullmatch(spec):
            length = _position(match[1])
            ranges.append((max(size - length, 0), size - 1 if length else -1))
        else:
            raise RangeNotSatisfiable(spec)
    if not ranges:
        raise RangeNotSatisfiable(header)
    if len(ranges) > 1:
        return None
    first, last = ranges[0]
    # satisfiable: an int-range starting before the end, a suffix-range of 1+ bytes
    if first >= size or last < first:
        raise RangeNotSatisfiable(header)
    return first, min(last, size - 1)


class _FileRange:
    """The bytes [offset, offset + length) of an open file, read a chunk at a time;
    the file is closed when the response is, read to the end or not."""

    def __init__(self, stream, offset: int, length: int) -> None:
        self.stream = stream
        self.offset = offset
        self.length = length

    def __iter__(self):
        self.stream.seek(self.offset)
        left = self.length
        while left > 0:
            chunk = self.stream.read(min(CHUNK_BYTES, left))
            if not chunk:  # the file shrank under us: the answer ends short
                return
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.stream.close()


# --- Responses ------------------------------------------------------------------------------


def _cache_control(max_age: int) -> str:
    # private: the answer may depend on who asked (and a shared cache must never hand
    # a film to someone else); no longer than the URL that fetched it lives
    return f"private, max-age={max_age}"


def _served_by_django(request: HttpRequest, media: MediaFile, max_age: int) -> HttpResponse:
    try:
        stream = storages["media"].open(media.name, "rb")
    except FileNotFoundError:
        raise Http404("No such media file.") from None
    try:
        size = stream.size
        # RFC 9110 14.2: range handling is defined for GET only (HEAD describes the
        # whole representation); no validators are sent, so an If-Range never matches
        # and the whole representation is the answer.
        wanted = (
            byte_range(request.headers.get("Range", ""), size)
            if request.method == "GET" and "If-Range" not in request.headers
            else None
        )
    except RangeNotSatisfiable:
        stream.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = _cache_control(max_age)
        return response
    except BaseException:
        stream.close()
        raise
    first, last = wanted if wanted else (0, size - 1)
    length = last - first + 1
    if request.method == "HEAD":
        stream.close()
        response = HttpResponse(content_type=media.content_type)
    else:
        response = StreamingHttpResponse(
            _FileRange(stream, first, length), content_type=media.content_type
        )
    if wanted:
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = _cache_control(max_age)
    return response


def _sent_by_web_server(media: MediaFile, max_age: int) -> HttpResponse:
    # nginx serves the file (and the Range) from its `internal` location for this
    # prefix; the name is percent-encoded, nginx decodes it and refuses "..".
    response = HttpResponse(content_type=media.content_type)
    response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_PREFIX + quote(media.name)
    response["Cache-Control"] = _cache_control(max_age)
    return response


def _redirected_to_storage(media: MediaFile, max_age: int) -> HttpResponse:
    storage = storages["media"]
    # S3 (django-storages) signs the URL for `expire` seconds; others take no argument
    if "expire" in inspect.signature(storage.url).parameters:
        url = storage.url(media.name, expire=max_age)
    else:
        url = storage.url(media.name)
    response = HttpResponseRedirect(url)
    # the address is itself a short-lived credential: keep it out of every cache
    response["Cache-Control"] = "private, no-store"
    return response


def media_response(
    request: HttpRequest, media: MediaFile, *, max_age: int | None = None
) -> HttpResponse:
    """The answer to a GET or HEAD of a media file, by `settings.MEDIA_DELIVERY`:

    - "django": the bytes from the "media" storage, a chunk at a time, with one byte
      range per request (206 with Content-Range; 416 with `Content-Range: bytes */size`
      for a malformed or unsatisfiable one; several ranges get the whole file, 200);
    - "accel": an empty answer with `X-Accel-Redirect: MEDIA_ACCEL_PREFIX + name`, for
      nginx to send the file and answer the Range itself;
    - "storage": a 302 to the storage's URL for the file (presigned on S3).

    `max_age` (default `MEDIA_URL_TTL_SECONDS`) bounds how long the browser may keep
    the answer. Who may have the file is the caller's business."""
    max_age = ttl_seconds() if max_age is None else max_age
    delivery = settings.MEDIA_DELIVERY
    if delivery == "accel":
        return _sent_by_web_server(media, max_age)
    if delivery == "storage":
        return _redirected_to_storage(media, max_age)
    return _served_by_django(request, media, max_age)
