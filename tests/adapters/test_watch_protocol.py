"""Watch protocol decoder: real-format frames (after Traccar's test set), framing, replies and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.protocols.watch import WatchProtocolError, decode, encode, split_frames
from core.kinds.wristband import WristbandReading
from sim.watch import frames_for

RX = 1_700_000_000_000

# Frames in the forms real watches send (see Traccar's WatchProtocolDecoderTest), several with wrong lengths.
UD = b"[SG*8800000015*0087*UD,220414,134652,A,22.571707,N,113.8613968,E,0.1,0.0,100,7,60,90,1000,50,0000,4,1,460,0,9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141]"  # noqa: E501
UD2 = b"[3G*9031853319*004E*UD2,220322,055105,A,22.761162,N,114.360192,E,0,0,47,14,100,64,0,0,00000008,0,0]"
UD_WEST = b"[SG*9059056143*0053*UD,251021,223408,A,41.46500,N,081.53128,W,0.926,000,0,00,70,70,0,50,00000000,0,1,,,,00]"
UD_V = b"[3G*4700222306*0077*UD,120316,140610,V,48.779045,N, 9.1574736,E,0.00,0.0,0.0,0,25,83,0,0,00000000,2,255,262,1,21041,9067,121,21041,5981,116]"  # noqa: E501
UD_SOUTH = b"[3G*6105117105*008D*UD2,210716,231601,A,-33.480366,N,-70.7630692,E,0.00,0.0,0.0,0,100,34,0,0,00000000,3,255,730,2,29731,54315,167]"  # noqa: E501
UD_LTE = b"[3G*2104326058*00E9*UD_LTE,300621,135101,A,32.162652,N,34.888748,E,30.84,265.158,65.621,18,100,83,0,0,00000000,1,1,425,01,10223,8012811,100,3,ES4104,22:74:1d:39:64:ff,-46]"  # noqa: E501
AL_SOS = b"[3G*8809008845*00C0*AL,271219,094744,V,00.000000,N, 0.0000000,E,0.00,0.0,0.0,0,100,81,0,0,00010000,7,0,460,0,9336,3981,141,0,0.0]"  # noqa: E501
AL_FALL = b"[3G*8308373902*0080*AL,230817,095346,A,47.083950,N,15.4821850,E,7.60,273.8,0.0,4,15,44,0,0,00200010,2,255,232,1,7605,42530,118,7605,58036,119,0,65.8]"  # noqa: E501
AL_OFF = b"[ZJ*014111001332708*0075*0064*AL,040418,052156,A,22.536207,N,113.938673,E,0,0,0,5,100,82,1000,50,00100000,1,255,460,0,9340,3663,35]"  # noqa: E501
AL_LOWBAT = b"[SG*8800000015*0087*AL,220414,134652,A,22.571707,N,113.8613968,E,0.1,0.0,100,7,60,90,1000,50,0001,4,1,460,0,9360,4082,131]"  # noqa: E501
AL_CUSTOM = b"[3G*358839237678820*0122*ALCUSTOMER1,251120,081821,V,0.0,N,0.0,E,2.58,317.462,35.147,14,100,2,11089,0,00100008,1,1,460,01,42308,101992452,100,5,shizhou1,44:56:e2:03:ea:2a,-69]"  # noqa: E501
WT = b"[3G*6005412902*011F*WT,170517,133811,V,18.512200,N,73.7750283,E,0.00,0.0,0.0,0,92,82,4262,0,00000010,2,1,404,22,10125,8301,141]"  # noqa: E501
LK = b"[SG*8800000015*0002*LK]"
LK_VALUES = b"[3G*8800000015*000D*LK,50,100,100]"
LK_TWO = b"[SG*9081000548*0009*LK,0,100]"
HEART = b"[3G*6005412902*0008*heart,71]"
HEART_ZERO = b"[3G*6005412902*0007*heart,0]"
PULSE = b"[CS*8800000015*0008*PULSE,72]"
BPHRT = b"[3G*4700609403*0013*bphrt,120,79,73,,,,]"
BLOOD = b"[ZJ*357653059860416*0007*000c*BLOOD,109,68]"
BTEMP = b"[3G*2104326058*000E*btemp2,1,35.29]"
BTEMP_OFF = b"[3G*2104326058*000E*btemp2,0,35.29]"
TEMP = b"[3G*2104326058*0009*temp,36.5]"
TKQ = b"[3G*8800000015*0003*TKQ]"
TKQ2 = b"[3G*8800000015*0004*TKQ2]"
INIT = b"[3G*8800000015*0004*INIT]"
CONFIG = b"[3G*5678901234*0011*CONFIG,TY:g36a,UL:60]"
VOICE = b"[CS*1234567890*000e*TK,#!AMR}\x01}\x02}\x03}\x04}\x05\xff]"


def test_position_frames() -> None:
    assert decode(UD, RX).kind == "UD"
    assert decode(UD, RX).vendor == "SG"
    assert decode(UD, RX).watch_id == "8800000015"
    assert decode(UD, RX).device_ts == 1398174412000  # 2014-04-22 13:46:52 UTC
    assert decode(UD, RX).reading == WristbandReading(lat=22.571707, lon=113.8613968, battery=90, steps=1000)
    assert decode(UD, RX).reply is None
    assert decode(UD2, RX).kind == "UD2"
    assert decode(UD2, RX).reading == WristbandReading(lat=22.761162, lon=114.360192, battery=64, steps=0)
    assert decode(UD_WEST, RX).reading.lon == -81.53128
    assert decode(UD_V, RX).reading == WristbandReading(battery=83, steps=0)  # no fix: no position
    assert decode(UD_SOUTH, RX).reading.lat == -33.480366
    assert decode(UD_LTE, RX).reading.battery == 83
    assert decode(WT, RX).reading.steps == 4262
    assert decode(WT, RX).reading.lat is None


def test_alarm_frames() -> None:
    assert decode(AL_SOS, RX).reading.alarm == "sos"
    assert decode(AL_SOS, RX).reply == b"[3G*8809008845*0002*AL]"
    assert decode(AL_FALL, RX).reading.alarm == "fall"
    assert decode(AL_FALL, RX).reading.lat == 47.08395
    assert decode(AL_OFF, RX).reading.worn is False
    assert decode(AL_OFF, RX).reading.alarm is None
    assert decode(AL_OFF, RX).index == "0075"
    assert decode(AL_OFF, RX).reply == b"[ZJ*014111001332708*0075*0002*AL]"
    assert decode(AL_LOWBAT, RX).reading.alarm is None
    assert decode(AL_CUSTOM, RX).reading.worn is False
    assert decode(AL_CUSTOM, RX).reply == b"[3G*358839237678820*0002*AL]"


def test_link_and_time_frames() -> None:
    assert decode(LK, RX).reading is None
    assert decode(LK, RX).device_ts == RX
    assert decode(LK, RX).reply == b"[SG*8800000015*0002*LK]"
    assert decode(LK_VALUES, RX).reading == WristbandReading(steps=50, battery=100)
    assert decode(LK_VALUES, RX).reply == b"[3G*8800000015*0002*LK]"
    assert decode(LK_TWO, RX).reading is None
    assert decode(TKQ, RX).reply == b"[3G*8800000015*0003*TKQ]"
    assert decode(TKQ2, RX).reply == b"[3G*8800000015*0004*TKQ2]"
    assert decode(INIT, RX).reply == b"[3G*8800000015*0006*INIT,1]"
    assert decode(CONFIG, RX).reply == b"[3G*5678901234*0008*CONFIG,1]"
    assert decode(VOICE, RX).kind == "TK"
    assert decode(VOICE, RX).reading is None


def test_vital_frames() -> None:
    assert decode(HEART, RX).reading == WristbandReading(hr=71, worn=True)
    assert decode(HEART, RX).device_ts == RX
    assert decode(HEART_ZERO, RX).reading is None
    assert decode(PULSE, RX).reading.hr == 72
    assert decode(BPHRT, RX).reading.hr == 73
    assert decode(BLOOD, RX).reading is None
    assert decode(BTEMP, RX).reading == WristbandReading(temp=35.29)
    assert decode(BTEMP_OFF, RX).reading is None
    assert decode(TEMP, RX).reading.temp == 36.5


def test_implausible_values_are_dropped() -> None:
    assert decode(b"[3G*1*0008*heart,400]", RX).reading is None
    assert decode(b"[3G*1*000b*temp,99.0]", RX).reading is None
    assert decode(b"[3G*1*000c*LK,10,0,250]", RX).reading == WristbandReading(steps=10)
    assert decode(UD.replace(b"22.571707,N", b"95.5,N"), RX).reading.lat is None
    assert decode(UD.replace(b"22.571707,N,113.8613968", b"0.0,N,0.0"), RX).reading.lat is None


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"[]",
        b"[3G*8800000015*0002*]",
        b"[3G*88000000x5*0002*LK]",
        b"[3g*8800000015*0002*LK]",
        b"[3G*8800000015*02*LK]",
        b"[3G*8800000015*0002*LK",
        b"3G*8800000015*0002*LK]",
        b"[3G*8800000015*0002*L K]",
        b"[3G*8800000015*0002*heart]",
        b"[3G*8800000015*0002*heart,x]",
        b"[3G*8800000015*0002*btemp2,1,warm]",
        b"[3G*8800000015*0002*bphrt,120]",
        b"[3G*8800000015*0002*LK,a,b,c]",
        b"[3G*8800000015*0002*UD,220414,134652,A]",
        b"[CS*1234567890*0004*TK,}\x09]",
        UD.replace(b"220414", b"320414"),
        UD.replace(b"134652", b"256000"),
        UD.replace(b",A,", b",X,"),
        UD.replace(b",N,", b",Q,"),
        UD.replace(b",0000,", b",zz,"),
        UD.replace(b",90,", b",-9,"),
    ],
)
def test_malformed_frames_raise(frame: bytes) -> None:
    with pytest.raises(WatchProtocolError) as err:
        decode(frame, RX)
    assert err.value.reason


def test_split_frames() -> None:
    assert split_frames(LK + HEART) == ([LK, HEART], b"")
    assert split_frames(LK + HEART[:10]) == ([LK], HEART[:10])
    assert split_frames(HEART[:10]) == ([], HEART[:10])
    assert split_frames(b"") == ([], b"")
    assert split_frames(LK + b"\r\n" + HEART + b"\n") == ([LK, HEART], b"")
    assert split_frames(b"[" + b"1" * 20, max_len=64) == ([], b"[" + b"1" * 20)


def test_split_frames_reassembles_any_split() -> None:
    stream = LK + UD + AL_SOS + HEART
    for cut in range(len(stream) + 1):
        frames, rest = split_frames(stream[:cut])
        more, rest = split_frames(rest + stream[cut:])
        assert frames + more == [LK, UD, AL_SOS, HEART]
        assert rest == b""


def test_split_frames_rejects_garbage_and_overlong() -> None:
    with pytest.raises(WatchProtocolError):
        split_frames(b"GET / HTTP/1.1\r\n")
    with pytest.raises(WatchProtocolError):
        split_frames(LK + b"x" + HEART)
    with pytest.raises(WatchProtocolError):
        split_frames(b"[3G*1*0002*L[K]")
    with pytest.raises(WatchProtocolError):
        split_frames(b"[" + b"1" * 64, max_len=64)
    with pytest.raises(WatchProtocolError):
        split_frames(UD, max_len=64)


def test_encode() -> None:
    assert encode("3G", "8800000015", "LK") == b"[3G*8800000015*0002*LK]"
    assert encode("3G", "8800000015", "x" * 171) == b"[3G*8800000015*00ab*" + b"x" * 171 + b"]"
    assert encode("ZJ", "1", "AL", index="0075") == b"[ZJ*1*0075*0002*AL]"
    with pytest.raises(ValueError):
        encode("3G", "88a", "LK")
    with pytest.raises(ValueError):
        encode("3G", "88", "L]K")


def test_sim_frames_round_trip() -> None:
    ts = 1_700_000_000_000
    walk = WristbandReading(lat=33.7868, lon=104.3712, battery=77, steps=1234, hr=82, temp=36.4, worn=True)
    frames = frames_for("3G", "8800000015", ts, walk)
    assert [decode(f, 0).kind for f in frames] == ["UD", "heart", "btemp2"]
    assert decode(frames[0], 0).reading == WristbandReading(lat=33.7868, lon=104.3712, battery=77, steps=1234)
    assert decode(frames[0], 0).device_ts == ts
    assert decode(frames[1], 0).reading == WristbandReading(hr=82, worn=True)
    assert decode(frames[2], 0).reading == WristbandReading(temp=36.4)
    sos = frames_for("3G", "8800000015", ts, WristbandReading(alarm="sos", battery=50, steps=0))
    assert decode(sos[0], 0).reading == WristbandReading(alarm="sos", battery=50, steps=0)
    assert decode(sos[0], 0).reply == b"[3G*8800000015*0002*AL]"
    fall = frames_for("SG", "8800000015", ts, WristbandReading(alarm="fall", lat=-1.5, lon=-2.5))
    assert decode(fall[0], 0).reading == WristbandReading(alarm="fall", lat=-1.5, lon=-2.5, battery=100, steps=0)
    off = frames_for("3G", "8800000015", ts, WristbandReading(worn=False, battery=60))
    assert decode(off[0], 0).reading == WristbandReading(worn=False, battery=60, steps=0)
    assert frames_for("3G", "8800000015", ts, WristbandReading()) == []


def _near_valid() -> st.SearchStrategy[bytes]:
    """Real frames with a few bytes flipped, cut or repeated."""
    base = st.sampled_from([UD, UD2, UD_LTE, AL_SOS, AL_OFF, LK_VALUES, HEART, BPHRT, BTEMP, TKQ, VOICE])
    alphabet = st.sampled_from(list(b"[]*,.-0123456789ABCDEFNSEWAV }\x01\x05\xff"))

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        frame = bytearray(draw(base))
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(frame) - 1))
            op = draw(st.sampled_from(["flip", "drop", "dup", "insert"]))
            if op == "flip":
                frame[i] = draw(alphabet)
            elif op == "drop" and len(frame) > 1:
                del frame[i]
            elif op == "dup":
                frame[i:i] = frame[i : i + draw(st.integers(1, 12))]
            else:
                frame.insert(i, draw(alphabet))
        return bytes(frame)

    return mutate()


def _decode_or_error(data: bytes) -> None:
    try:
        frame = decode(data, RX)
    except WatchProtocolError as exc:
        assert exc.reason
        return
    assert frame.watch_id.isdigit()
    assert frame.reply is None or frame.reply.startswith(b"[")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_decode_binary(data: bytes) -> None:
    _decode_or_error(data)
    _decode_or_error(b"[3G*8800000015*0010*" + data + b"]")


@settings(max_examples=1000, deadline=None)
@given(_near_valid())
def test_fuzz_decode_near_valid(data: bytes) -> None:
    _decode_or_error(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(8, 512))
def test_fuzz_split_frames(data: bytes, max_len: int) -> None:
    try:
        frames, rest = split_frames(data, max_len)
    except WatchProtocolError as exc:
        assert exc.reason
        return
    assert all(f.startswith(b"[") and f.endswith(b"]") and len(f) <= max_len for f in frames)
    assert len(rest) < max_len
