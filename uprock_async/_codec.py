"""Bytes in, structs out: one cached decoder per type, errors mapped to ours.

The hot path is one plain ``Decoder.decode``, nothing before or after it: any
scan of the body costs a third of the decode of a 2.3 MB crawl info, so none is
made. ``""`` timestamps need no help here: timestamp fields are ``str`` for
msgspec and parsed on access (:mod:`uprock_async._timestamps`).

The services also send ``null`` where the documents promise a value (a Go
service sends ``null`` for an empty slice; the official ScreenshotCenter SDK's
fixtures send ``"error": null``). When, and only when, the plain decode fails on
a ``null``, the null leniency runs: a ``null`` in a field that has a default
gives the default, one in a field that accepts ``None`` stays ``None``, one in a
required field (the identifier of an object: ``Job.job_id``, ``Screenshot.id``
…) fails with msgspec's own message and JSON path; free-form values are never
looked into. The reference is the walk (:mod:`uprock_async._lenient`: a generic
decode, the nulls dropped, ``msgspec.convert``); the twin
(:mod:`uprock_async._twins`) gives the same result at the speed of a plain
decode once the walk has met nulls in the same fields, and leaves every body it
cannot decode to the walk.

Every failure is a :class:`ResponseDecodeError` quoting msgspec's JSON path
(``$.data.screenshots[3].cost``) and a short excerpt; ``.body`` is always the
original bytes.

The shapes at the end (:class:`Plain`, :class:`Either`, :class:`Envelope`) are how
every response of both clients is read: one object per endpoint answer, built
at import, called with the body and the client's :class:`Hooks` (redaction,
the status-error mapper and the stats counter), so that a failure is redacted,
mapped and counted here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from ._errors import APIStatusError, ResponseDecodeError, UprockAsyncError, excerpt, status_error
from ._lenient import GOT_NULL, lenient_plan
from ._redact import redact_bytes
from ._twins import twin

__all__ = [
    "Either",
    "Envelope",
    "Hooks",
    "Plain",
    "Shape",
    "decode",
    "encode",
    "json_body",
    "lenient_plan",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_encoder = msgspec.json.Encoder()


def decode(
    decoder: msgspec.json.Decoder[T],
    body: bytes,
    *,
    status: int = 200,
    what: str = "response",
    redact: Callable[[str], str] | None = None,
) -> T:
    """Decode ``body`` with ``decoder``; a ``null`` where the type has a default
    takes the default (see the module docstring); anything else but the
    documented shape raises :class:`ResponseDecodeError` quoting the JSON path and
    a short excerpt (``redact`` scrubs the API key from it, should a server echo
    it back). ``.body`` is always the original bytes."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if GOT_NULL not in str(exc):
            # Only nulls are forgiven: a wrong type or a missing field would fail
            # the lenient path the same way, so do not pay for it.
            raise _decode_error(exc, body, status, what, redact) from exc
        fast = twin(decoder.type)
        if fast is not None:
            try:
                quick: T = fast(body)
                return quick
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as miss:
                fast.missed(miss)  # the walk decides, and reports, as it always has
        try:
            repaired: T = _lenient(decoder.type, body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as again:
            raise _decode_error(again, body, status, what, redact) from again
        return repaired
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise _decode_error(exc, body, status, what, redact) from exc


def _lenient(target: Any, body: bytes) -> Any:
    data = msgspec.json.decode(body)
    fix = lenient_plan(target)
    if fix is not None:
        fix(data)
    return msgspec.convert(data, target)


def _decode_error(
    exc: Exception,
    body: bytes,
    status: int,
    what: str,
    redact: Callable[[str], str] | None,
) -> ResponseDecodeError:
    reason = str(exc)
    if redact is not None:
        reason = redact(reason)
    # excerpt() redacts the whole text before cutting and quoting it, so a key
    # that straddles the cut or contains a backslash is still caught.
    quoted = excerpt(body, redact=redact)
    if isinstance(exc, msgspec.ValidationError):
        message = f"{what} does not match the documented shape ({reason}); body: {quoted}"
    else:
        kind = "empty" if not body.strip() else "not valid JSON"
        message = f"{what} is {kind} ({reason}); body: {quoted}"
    return ResponseDecodeError(message, body=redact_bytes(body, redact), status_code=status)


# -- shapes: how each answer is read -------------------------------------------------------


class Hooks:
    """What reading an answer needs from its client: ``redact`` scrubs the API key
    from messages, ``status_error`` maps an error answer to its exception (the
    transport's, which knows the request), ``count`` records a failure in stats."""

    __slots__ = ("count", "redact", "status_error")

    def __init__(
        self,
        redact: Callable[[str], str] | None = None,
        status_error: Callable[[int, bytes, Mapping[str, str]], APIStatusError] | None = None,
        count: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.redact = redact
        self.status_error = status_error
        self.count = count

    def failed(self, error: UprockAsyncError) -> UprockAsyncError:
        """``error``, counted: ``raise hooks.failed(error)``."""
        if self.count is not None:
            self.count(error)
        return error


class Shape(Protocol[T_co]):
    """Reads one answer: ``shape(body, status, headers, hooks)`` → the struct, or raises
    (counted) :class:`~uprock_async.UprockAsyncError`."""

    def __call__(
        self, body: bytes, status: int, headers: Mapping[str, str], hooks: Hooks
    ) -> T_co: ...


class Plain(Generic[T]):
    """The body is the struct itself (Uprock's job detail)."""

    __slots__ = ("decoder", "what")

    def __init__(self, decoder: msgspec.json.Decoder[T], what: str) -> None:
        self.decoder = decoder
        self.what = what

    def reader(self, hooks: Hooks) -> Callable[[int, Mapping[str, str], bytes], T]:
        """This shape as the transport's ``read(status, headers, body)``: one call per
        answer on the fan-out's path (anything but a clean body takes ``__call__``)."""
        decode, full = self.decoder.decode, self.__call__

        def read(status: int, headers: Mapping[str, str], body: bytes) -> T:
            try:
                return decode(body)
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                return full(body, status, headers, hooks)  # leniency, or our error

        return read

    def __call__(self, body: bytes, status: int, headers: Mapping[str, str], hooks: Hooks) -> T:
        try:
            return self.decoder.decode(body)  # the common case, with no call in between
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            pass  # decode() below tries leniency, or raises our error (outside this handler)
        try:
            return decode(self.decoder, body, status=status, what=self.what, redact=hooks.redact)
        except UprockAsyncError as exc:
            hooks.failed(exc)
            raise


class Either(Generic[T]):
    """The struct bare or wrapped as ``{key: {...}}`` (the Uprock docs are vague about
    which one the service sends for jobs and sessions)."""

    __slots__ = ("key", "plain", "what", "wrapped")

    def __init__(self, plain: msgspec.json.Decoder[T], key: str, what: str) -> None:
        self.plain = plain
        self.key = key
        self.what = what
        wrapper = msgspec.defstruct(f"_{key.title()}Wrapper", [(key, plain.type)], gc=False)
        self.wrapped: msgspec.json.Decoder[Any] = msgspec.json.Decoder(wrapper)

    def named(self, what: str) -> Either[T]:
        """The same shape, naming the answer ``what`` in messages."""
        other: Either[T] = Either.__new__(Either)
        other.plain, other.wrapped, other.key, other.what = self.plain, self.wrapped, self.key, what
        return other

    def __call__(self, body: bytes, status: int, headers: Mapping[str, str], hooks: Hooks) -> T:
        try:
            return self.read(body, status, hooks.redact)
        except UprockAsyncError as exc:
            hooks.failed(exc)
            raise

    def read(self, body: bytes, status: int = 200, redact: Callable[[str], str] | None = None) -> T:
        """Decode without counting (the pure half; a failure quotes the bare shape's error)."""
        try:
            return decode(self.plain, body, status=status, what=self.what, redact=redact)
        except ResponseDecodeError as first:
            try:
                wrapper = decode(self.wrapped, body, status=status, what=self.what, redact=redact)
            except ResponseDecodeError:
                raise first from None
            value: T = getattr(wrapper, self.key)
            return value


class Envelope(Generic[T_co]):
    """ScreenshotCenter's ``{"success": true, "data": …}``: the ``data``.

    An error envelope (even with HTTP 200, even one whose extra fields do not fit
    the typed shape) raises the matching :class:`~uprock_async.APIStatusError`;
    ``data: null`` is an error unless ``allow_empty`` (answers that only
    acknowledge; then the call returns ``None``). ``decoder`` decodes the typed
    envelope, ``probe`` a loose one (``data`` of any type) to tell an error shape
    from a broken body.
    """

    __slots__ = ("allow_empty", "decoder", "probe", "what")

    def __init__(
        self,
        decoder: msgspec.json.Decoder[Any],
        probe: msgspec.json.Decoder[Any],
        what: str,
        *,
        allow_empty: bool = False,
    ) -> None:
        self.decoder = decoder
        self.probe = probe
        self.what = what
        self.allow_empty = allow_empty

    def __call__(self, body: bytes, status: int, headers: Mapping[str, str], hooks: Hooks) -> T_co:
        try:
            envelope = decode(
                self.decoder, body, status=status, what=self.what, redact=hooks.redact
            )
        except ResponseDecodeError as exc:
            try:
                loose = self.probe.decode(body)
            except (msgspec.DecodeError, RecursionError):
                loose = None
            error: UprockAsyncError = exc
            if loose is not None and (not loose.success or loose.error is not None):
                error = self._status_error(status, body, headers, hooks)
            raise hooks.failed(error) from None
        if not envelope.success or (envelope.data is None and not self.allow_empty):
            raise hooks.failed(self._status_error(status, body, headers, hooks))
        data: T_co = envelope.data
        return data

    @staticmethod
    def _status_error(
        status: int, body: bytes, headers: Mapping[str, str], hooks: Hooks
    ) -> APIStatusError:
        if hooks.status_error is not None:
            return hooks.status_error(status, body, headers)
        return status_error(status, body, headers, redact=hooks.redact)  # no transport


# -- requests -----------------------------------------------------------------------------


def encode(value: Any) -> bytes:
    """JSON-encode a request body (structs, dicts, lists)."""
    return _encoder.encode(value)


def json_body(**fields: Any) -> bytes:
    """A JSON object of the fields that are not ``None``."""
    return _encoder.encode({k: v for k, v in fields.items() if v is not None})
