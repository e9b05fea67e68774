"""Caption files (SRT, WebVTT) played into a room as the host's speech (`TranscriptEvent`s)."""

from adapters.captions.adapter import CaptionAdapter, CaptionStats, parse_room
from adapters.captions.parser import (
    BadCue,
    CaptionError,
    Captions,
    Cue,
    decode_captions,
    parse_captions,
    read_captions,
)

__all__ = ["CaptionAdapter", "CaptionStats", "parse_room", "BadCue", "CaptionError", "Captions", "Cue",
           "decode_captions", "parse_captions", "read_captions"]
