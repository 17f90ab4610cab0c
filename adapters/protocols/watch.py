"""The text protocol of the cheap 2G/4G elderly and child watches ("3G*", "SG*", "CS*"; Traccar's Watch protocol).

A frame is `[VV*ID*LLLL*CONTENT]` or, from some vendors, `[VV*ID*IIII*LLLL*CONTENT]` with a 4-hex-digit index:
VV is a two-character vendor, ID the watch's digits, LLLL the content length in hex and CONTENT starts with a
message type (LK, UD, UD2, AL, heart, bphrt, btemp2 ...) followed by comma-separated values. Real watches
often send a wrong length, so, like Traccar, frames are delimited by `]` and the length is only checked for form.
Malformed frames raise WatchProtocolError; implausible values (battery 250 %, a fix at 0,0) are dropped instead.
Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

from core.kinds.wristband import WristbandReading

MAX_FRAME = 8192
_SPACE = b" \t\r\n"
_FRAME = re.compile(rb"\[([0-9A-Z]{2})\*([0-9]{1,20})\*(?:([0-9A-Fa-f]{4})\*)?([0-9A-Fa-f]{4})\*(.+)\]", re.S)
_KIND = re.compile(rb"[A-Za-z0-9_]{1,32}")
_UNESCAPE = {1: b"}", 2: b"[", 3: b"]", 4: b",", 5: b"*"}  # binary payloads escape these as `}` + code
_INT = re.compile(r"[0-9]{1,9}")
_DEC = re.compile(r" *-?[0-9]{1,9}(?:\.[0-9]{0,12})?")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")

# Status bits of position frames, as Traccar reads them (low half: state, high half: alarms).
SOS_BIT = 1 << 16
REMOVED_BIT = 1 << 20
FALL_BITS = (1 << 21) | (1 << 22)


class WatchProtocolError(ValueError):
    """A malformed frame or byte stream; `reason` says what was wrong (never the values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WatchFrame(msgspec.Struct, kw_only=True, frozen=True):
    """One decoded watch frame: identity, type, the reading it carries and the reply the watch expects."""

    vendor: str
    watch_id: str
    kind: str
    index: str | None = None  # the vendor's 4-hex-digit frame index, echoed in replies
    reading: WristbandReading | None = None
    device_ts: int  # ms since the epoch: the frame's own date/time read as UTC, else the receive time
    reply: bytes | None = None


def split_frames(buffer: bytes, max_len: int = MAX_FRAME) -> tuple[list[bytes], bytes]:
    """Cut the complete `[...]` frames off a receive buffer; returns (frames, the incomplete rest)."""
    frames: list[bytes] = []
    pos, n = 0, len(buffer)
    while pos < n:
        if buffer[pos] in _SPACE:  # some firmwares put line breaks between frames
            pos += 1
            continue
        if buffer[pos] != 0x5B:  # '['
            raise WatchProtocolError("garbage outside a frame")
        limit = min(n, pos + max_len)
        end = buffer.find(b"]", pos + 1, limit)
        if buffer.find(b"[", pos + 1, end if end >= 0 else limit) >= 0:
            raise WatchProtocolError("frame start inside a frame")
        if end < 0:
            if n - pos >= max_len:
                raise WatchProtocolError("frame longer than the limit")
            break
        frames.append(buffer[pos : end + 1])
        pos = end + 1
    return frames, buffer[pos:]


def encode(vendor: str, watch_id: str, content: str, index: str | None = None) -> bytes:
    """Build one frame `[vendor*id*(index*)length*content]`, the length in lower-case hex as Traccar writes it."""
    raw = content.encode("ascii")
    if len(vendor) != 2 or not watch_id.isdigit() or b"[" in raw or b"]" in raw:
        raise ValueError("cannot encode this watch frame")
    head = f"[{vendor}*{watch_id}*" + (f"{index}*" if index else "")
    return head.encode("ascii") + b"%04x*" % len(raw) + raw + b"]"


def decode(frame: bytes, rx_ms: int) -> WatchFrame:
    """Decode one complete frame received at `rx_ms`; raises WatchProtocolError when it is malformed."""
    m = _FRAME.fullmatch(frame)
    if m is None:
        raise WatchProtocolError("bad frame header")
    vendor, watch_id = m.group(1).decode(), m.group(2).decode()
    index = m.group(3).decode() if m.group(3) else None
    content = _unescape(m.group(5))
    kind_raw, _, rest_raw = content.partition(b",")
    if _KIND.fullmatch(kind_raw) is None:
        raise WatchProtocolError("bad message type")
    kind = kind_raw.decode()

    def reply(text: str) -> bytes:
        return encode(vendor, watch_id, text, index)

    def frame_of(reading: WristbandReading | None = None, ts: int = rx_ms, ack: bytes | None = None) -> WatchFrame:
        return WatchFrame(
            vendor=vendor, watch_id=watch_id, kind=kind, index=index, reading=reading, device_ts=ts, reply=ack
        )

    low = kind.lower()
    if kind.startswith(("UD", "AL", "WT")):
        reading, ts = _position(kind, _text(rest_raw), rx_ms)
        return frame_of(reading, ts, reply("AL") if kind.startswith("AL") else None)
    if kind == "LK":
        values = _text(rest_raw).split(",") if rest_raw else []
        reading = None
        if len(values) >= 3:  # LK,steps,rolls,battery
            reading = _reading(steps=_int(values[0], "steps"), battery=_battery(values[2]))
        return frame_of(reading, ack=reply("LK"))
    if kind in ("TKQ", "TKQ2"):
        return frame_of(ack=reply(kind))
    if kind == "INIT":
        return frame_of(ack=reply("INIT,1"))
    if kind == "CONFIG":
        return frame_of(ack=reply("CONFIG,1"))
    if low in ("heart", "pulse", "bphrt", "blood", "btemp2", "temp"):
        return frame_of(_vitals(low, _text(rest_raw).split(",")))
    return frame_of()  # a type we do not read (voice, images, ...): accepted, nothing to publish


def _unescape(content: bytes) -> bytes:
    if b"}" not in content:
        return content
    out, i, n = bytearray(), 0, len(content)
    while i < n:
        b = content[i]
        if b == 0x7D:
            code = content[i + 1] if i + 1 < n else -1
            if code not in _UNESCAPE:
                raise WatchProtocolError("bad escape sequence")
            out += _UNESCAPE[code]
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")  # every field we read is checked against an ASCII pattern; the rest is opaque


def _int(s: str, what: str) -> int:
    if _INT.fullmatch(s) is None:
        raise WatchProtocolError(f"bad {what}")
    return int(s)


def _dec(s: str, what: str) -> float:
    if _DEC.fullmatch(s) is None:
        raise WatchProtocolError(f"bad {what}")
    return float(s)


def _battery(s: str) -> int | None:
    value = _int(s, "battery")
    return value if value <= 100 else None  # implausible values are dropped, not fatal


def _reading(**values: object) -> WristbandReading | None:
    present = {k: v for k, v in values.items() if v is not None}
    return WristbandReading(**present) if present else None  # type: ignore[arg-type]


def _device_time(date: str, time: str, rx_ms: int) -> int:
    if _INT.fullmatch(date) is None or _INT.fullmatch(time) is None or len(date) != 6 or len(time) != 6:
        raise WatchProtocolError("bad date or time")
    if date == "000000":  # a watch without network time yet
        return rx_ms
    try:
        dt = datetime(
            2000 + int(date[4:]),
            int(date[2:4]),
            int(date[:2]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:]),
            tzinfo=UTC,
        )
    except ValueError:
        raise WatchProtocolError("bad date or time") from None
    return int(dt.timestamp()) * 1000


def _coordinate(value: str, hemisphere: str, what: str) -> float:
    if hemisphere not in ("N", "S", "E", "W", ""):
        raise WatchProtocolError(f"bad {what} hemisphere")
    x = _dec(value, what)
    return -abs(x) if hemisphere in ("S", "W") else x


def _position(kind: str, text: str, rx_ms: int) -> tuple[WristbandReading | None, int]:
    """UD/UD2/AL/WT: date,time,A|V,lat,N|S,lon,E|W,speed,course,alt,sats,rssi,battery,steps,rolls,status,cells..."""
    f = text.split(",")
    if len(f) < 16:
        raise WatchProtocolError("too few position fields")
    ts = _device_time(f[0], f[1], rx_ms)
    if f[2] not in ("A", "V"):
        raise WatchProtocolError("bad fix validity")
    lat = _coordinate(f[3], f[4], "latitude")
    lon = _coordinate(f[5], f[6], "longitude")
    for i, what in ((7, "speed"), (8, "course"), (9, "altitude")):
        _dec(f[i], what)
    for i, what in ((10, "satellites"), (11, "signal"), (14, "rolls")):
        _int(f[i], what)
    battery, steps = _battery(f[12]), _int(f[13], "steps")
    if _HEX.fullmatch(f[15]) is None:
        raise WatchProtocolError("bad status")
    status = int(f[15], 16)
    alarm = None
    if kind.startswith("AL"):  # alarm bits are events only in alarm frames; UD frames may repeat stale bits
        alarm = "sos" if status & SOS_BIT else "fall" if status & FALL_BITS else None
    valid = f[2] == "A" and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and (lat, lon) != (0.0, 0.0)
    reading = _reading(
        lat=lat if valid else None,
        lon=lon if valid else None,
        battery=battery,
        steps=steps,
        worn=False if status & REMOVED_BIT else None,
        alarm=alarm,
    )
    return reading, ts


def _vitals(kind: str, values: list[str]) -> WristbandReading | None:
    """heart/pulse: hr; bphrt/blood: systolic,diastolic[,hr]; btemp2: flag,temp; temp: temp. A pulse means worn."""
    hr: int | None = None
    temp: float | None = None
    if kind in ("btemp2", "temp"):
        flag = "1" if kind == "temp" else values[0]
        value = values[0] if kind == "temp" else (values[1] if len(values) > 1 else "")
        if _int(flag, "temperature flag") > 0:
            temp = _dec(value, "temperature")
            temp = temp if 20.0 <= temp <= 45.0 else None  # implausible: dropped
    else:
        i = 2 if kind in ("bphrt", "blood") else 0
        if kind in ("bphrt", "blood"):
            if len(values) < 2:
                raise WatchProtocolError("too few blood pressure values")
            _int(values[0], "systolic pressure")
            _int(values[1], "diastolic pressure")
        if i < len(values) and values[i]:
            hr = _int(values[i], "heart rate")
            hr = hr if 0 < hr <= 300 else None  # 0: no measurement; implausible: dropped
        elif i == 0:
            raise WatchProtocolError("missing heart rate")
    return _reading(hr=hr, temp=temp, worn=True if hr else None)  # a measured pulse: the watch is on a wrist
