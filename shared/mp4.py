"""Reads what the verify step needs from an MP4 file without FFmpeg: the video
track's frame count, frame rate and size.

The Functions app has no FFmpeg in Azure, so the stitched video is checked by
reading the ISO BMFF boxes (moov/trak/mdia/...) that the muxer wrote.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shared.errors import PermanentError

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}


class Mp4Error(PermanentError):
    code = "video_unreadable"


@dataclass(frozen=True)
class VideoTrack:
    frame_count: int
    timescale: int
    duration: int      # in timescale units
    width: int
    height: int
    frame_deltas: tuple[tuple[int, int], ...]  # stts entries: (count, delta)

    @property
    def fps(self) -> float:
        """Frames per second, from the track's duration (exact for constant rate)."""
        if self.duration <= 0:
            return 0.0
        return self.frame_count * self.timescale / self.duration


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes between start and end."""
    boxes = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise Mp4Error("truncated 64-bit box header")
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4Error(f"box {kind!r} at {pos} runs past the end of the file")
        boxes.append((kind, pos + header, pos + size))
        pos += size
    return boxes


def _find(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    return None


def _full_box_version(data: bytes, start: int) -> int:
    return data[start]


def _parse_track(data: bytes, start: int, end: int) -> VideoTrack | None:
    mdia = _find(data, start, end, b"mdia")
    if mdia is None:
        return None
    hdlr = _find(data, *mdia, b"hdlr")
    if hdlr is None or data[hdlr[0] + 8:hdlr[0] + 12] != b"vide":
        return None
    mdhd = _find(data, *mdia, b"mdhd")
    if mdhd is None:
        raise Mp4Error("video track has no mdhd box")
    s = mdhd[0]
    if _full_box_version(data, s) == 1:
        timescale, duration = struct.unpack(">IQ", data[s + 20:s + 32])
    else:
        timescale, duration = struct.unpack(">II", data[s + 12:s + 20])
    width = height = 0
    tkhd = _find(data, start, end, b"tkhd")
    if tkhd is not None:
        # width and height are the last 8 bytes of tkhd, 16.16 fixed point
        w, h = struct.unpack(">II", data[tkhd[1] - 8:tkhd[1]])
        width, height = w >> 16, h >> 16
    minf = _find(data, *mdia, b"minf")
    stbl = _find(data, *minf, b"stbl") if minf else None
    if stbl is None:
        raise Mp4Error("video track has no sample table")
    stts = _find(data, *stbl, b"stts")
    deltas: list[tuple[int, int]] = []
    if stts is not None:
        (entries,) = struct.unpack(">I", data[stts[0] + 4:stts[0] + 8])
        for i in range(entries):
            off = stts[0] + 8 + 8 * i
            deltas.append(struct.unpack(">II", data[off:off + 8]))
    stsz = _find(data, *stbl, b"stsz")
    if stsz is None:
        raise Mp4Error("video track has no stsz box")
    (count,) = struct.unpack(">I", data[stsz[0] + 8:stsz[0] + 12])
    if deltas:
        duration = sum(c * d for c, d in deltas)
    return VideoTrack(count, timescale, duration, width, height, tuple(deltas))


def read_video_track(data: bytes) -> VideoTrack:
    """The first video track of an MP4 file's bytes; Mp4Error if there is none."""
    try:
        moov = _find(data, 0, len(data), b"moov")
        if moov is None:
            raise Mp4Error("not an MP4 file: no moov box")
        for kind, s, e in _boxes(data, *moov):
            if kind == b"trak":
                track = _parse_track(data, s, e)
                if track is not None:
                    return track
    except struct.error as exc:
        raise Mp4Error(f"truncated MP4 box: {exc}") from exc
    raise Mp4Error("the MP4 file has no video track")
