"""Parse caption files (SRT and WebVTT) into cues, never giving up on the file.

Bytes are decoded first: UTF-8 with or without a BOM, UTF-16/UTF-32 with a BOM
(or UTF-16 without one, recognised by its zero bytes), and, when the bytes are
not valid UTF-8, GB18030 (Chinese captions exported by Windows tools). Anything
else is a `CaptionError` that says which encodings were tried.

The format is WebVTT when the first line starts with ``WEBVTT``, SRT otherwise.
Both are blocks separated by blank lines: an optional cue number or identifier,
a timing line ``start --> end [settings]`` (``,`` or ``.`` before the
milliseconds, hours optional), then one or more lines of text. VTT ``NOTE``,
``STYLE`` and ``REGION`` blocks are skipped. Tags (``<v Speaker>``, ``<i>``,
``<c.loud>``, ``<00:00:01.000>``, SRT ``<font>`` and ``{\\an8}``) are stripped,
HTML entities decoded, and a cue's lines joined into one line of speech.

A block that cannot be a cue (no timing line, a bad timestamp, an end before
its start, no text left after stripping tags) becomes a `BadCue` with its line
number and the reason; the rest of the file is used.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cue", "BadCue", "Captions", "CaptionError", "parse_captions", "read_captions",
           "decode_captions", "format_ts"]

#: A caption file bigger than this is refused rather than read into memory.
MAX_FILE_BYTES = 64 * 1024 * 1024

_TS = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(r"^\s*(\S+)\s*-->\s*(\S+)(?:\s+(.*))?$")
_TS_FULL = re.compile(rf"^{_TS}$")
_TAG = re.compile(r"<[^<>\n]*>")
_ASS_TAG = re.compile(r"\{\\[^{}\n]*\}")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>\n]+)>")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_CJK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_VTT_SKIP = ("NOTE", "STYLE", "REGION")


class CaptionError(ValueError):
    """The file cannot be read as captions at all (unreadable, unknown encoding)."""


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: ``start``/``end`` in seconds from the file's time zero, and its text."""

    index: int  # 1-based position among the good cues, in file order
    lineno: int  # the line of its timing line
    start: float
    end: float
    text: str
    voice: str | None = None  # the first <v Speaker> of a VTT cue
    ident: str | None = None  # the SRT cue number or VTT cue identifier, if any


@dataclass(frozen=True, slots=True)
class BadCue:
    """A block that could not become a cue, and why."""

    lineno: int
    reason: str


@dataclass(slots=True)
class Captions:
    """A parsed caption file: good cues sorted by start time, and what was skipped."""

    format: str  # "srt" | "vtt"
    encoding: str
    cues: list[Cue] = field(default_factory=list)
    bad: list[BadCue] = field(default_factory=list)


def format_ts(seconds: float) -> str:
    """``HH:MM:SS.mmm``, for messages."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


# ---- decoding ---------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when every other byte of the start is zero (ASCII in UTF-16)."""
    head = data[:200]
    if len(head) < 4 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def decode_captions(data: bytes) -> tuple[str, str]:
    """Bytes → (text, encoding name). Raises `CaptionError` naming what was tried."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), f"{encoding.removesuffix('-sig')} (BOM)"
            except UnicodeDecodeError as exc:
                raise CaptionError(f"the file starts with a {encoding} byte-order mark but is not valid "
                                   f"{encoding} (byte {exc.start})") from None
    guessed = _utf16_without_bom(data)
    if guessed is not None:
        try:
            return data.decode(guessed), guessed
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise CaptionError(
                f"the file is not text in a supported encoding: not UTF-8 (invalid byte at offset "
                f"{utf8_error.start}), not GB18030, and it has no UTF-16 byte-order mark; "
                f"save it as UTF-8") from None


# ---- parsing ----------------------------------------------------------------------------

def _parse_ts(value: str) -> float | None:
    m = _TS_FULL.match(value)
    if m is None:
        return None
    hours, minutes, seconds, fraction = m.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    return (int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
            + int(fraction.ljust(3, "0")) / 1000)


def _clean(lines: list[str]) -> tuple[str, str | None]:
    """Cue text lines → one line of speech without markup, and the first VTT voice."""
    voice = None
    out: list[str] = []
    for raw in lines:
        m = _VOICE.search(raw)
        if m and voice is None:
            voice = html.unescape(m.group(1)).strip() or None
        line = _ASS_TAG.sub("", _TAG.sub("", raw))
        line = _SPACES.sub(" ", html.unescape(line)).strip()
        if not line:
            continue
        if out and _CJK.match(line[0]) and _CJK.match(out[-1][-1]):
            out[-1] += line  # Chinese lines continue without a space
        else:
            out.append(line)
    return " ".join(out), voice


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(first line number, lines) for every run of non-blank lines."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def parse_captions(text: str, *, encoding: str = "utf-8") -> Captions:
    """Caption text → `Captions`. Never raises for bad cues; they are listed in ``bad``."""
    text = text.lstrip("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((line for line in lines if line.strip()), "")
    is_vtt = first.lstrip().startswith("WEBVTT")
    result = Captions(format="vtt" if is_vtt else "srt", encoding=encoding)
    blocks = _blocks(lines)
    if is_vtt and blocks:
        blocks = blocks[1:]  # the WEBVTT header and its header lines
    good: list[Cue] = []
    for start_line, block in blocks:
        head = block[0].strip()
        if is_vtt and head.split(maxsplit=1)[0] in _VTT_SKIP and "-->" not in head:
            continue
        # The timing line is the first line, or the second after a cue number / identifier.
        timing_at = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing_at is None:
            result.bad.append(BadCue(start_line, "no timing line ('start --> end')"))
            continue
        lineno = start_line + timing_at
        timing = _TIMING.match(block[timing_at])
        if timing is None:
            result.bad.append(BadCue(lineno, f"bad timing line: {block[timing_at].strip()[:60]!r}"))
            continue
        begin, end = _parse_ts(timing.group(1)), _parse_ts(timing.group(2))
        if begin is None or end is None:
            which = timing.group(1) if begin is None else timing.group(2)
            result.bad.append(BadCue(lineno, f"bad timestamp {which[:30]!r} (expected HH:MM:SS,mmm "
                                             f"or MM:SS.mmm)"))
            continue
        if end < begin:
            result.bad.append(BadCue(lineno, f"ends before it starts ({format_ts(begin)} --> "
                                             f"{format_ts(end)})"))
            continue
        spoken, voice = _clean(block[timing_at + 1:])
        if not spoken:
            result.bad.append(BadCue(lineno, "no text"))
            continue
        ident = block[0].strip() if timing_at == 1 else None
        good.append(Cue(index=len(good) + 1, lineno=lineno, start=begin, end=end, text=spoken,
                        voice=voice, ident=ident))
    result.cues = sorted(good, key=lambda c: c.start)  # stable: file order among equal starts
    return result


def read_captions(path: str | Path) -> Captions:
    """Read, decode and parse a caption file; `CaptionError` if it cannot be read at all."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaptionError(f"cannot read caption file {path}: {size} bytes, over the "
                               f"{MAX_FILE_BYTES // (1024 * 1024)} MiB limit")
        data = path.read_bytes()
    except IsADirectoryError:
        raise CaptionError(f"cannot read caption file {path}: it is a directory") from None
    except OSError as exc:
        raise CaptionError(f"cannot read caption file {path}: {exc.strerror or exc}") from None
    try:
        text, encoding = decode_captions(data)
    except CaptionError as exc:
        raise CaptionError(f"cannot read caption file {path}: {exc}") from None
    return parse_captions(text, encoding=encoding)
