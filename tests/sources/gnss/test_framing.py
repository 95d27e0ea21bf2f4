"""Framing: which bytes become sentences, and every rejected line counted under its reason."""

from __future__ import annotations

from agent.sources.gnss.framing import MAX_LINE, SentenceFramer, checksum_ok, xor_bytes
from agent.sources.gnss.replay import nmea

RMC = nmea("GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A")
GGA = nmea("GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000")
RMC_S = RMC.decode().strip()
GGA_S = GGA.decode().strip()


def frame(data: bytes) -> tuple[list[str], dict[str, int]]:
    framer = SentenceFramer()
    out = framer.feed(data)
    framer.flush()
    return out, framer.counters.as_dict()


def rejected(counters: dict[str, int]) -> dict[str, int]:
    reasons = ("bad_checksum", "no_checksum", "truncated", "garbage", "non_ascii", "overlong")
    return {k: counters[k] for k in reasons if counters[k]}


def test_checksum_is_xor_of_body_in_hex_either_case() -> None:
    assert checksum_ok(RMC.strip())
    lower = RMC.strip()[:-2] + RMC.strip()[-2:].lower()
    assert checksum_ok(lower)
    assert not checksum_ok(RMC.strip()[:-1] + b"0" if not RMC.strip().endswith(b"0")
                           else RMC.strip()[:-1] + b"1")


def test_clean_stream_passes_every_sentence_with_crlf_lf_or_crcrlf() -> None:
    for eol in (b"\r\n", b"\n", b"\r\r\n", b"\r"):
        data = RMC.strip() + eol + GGA.strip() + eol
        out, counters = frame(data)
        assert out == [RMC_S, GGA_S], eol
        assert counters["sentences"] == 2
        assert rejected(counters) == {}


def test_any_chunking_gives_the_same_sentences() -> None:
    data = (b"noise" + RMC + GGA + b"$GPGGA,1,2*00\r\n" + RMC) * 3
    whole, whole_counters = frame(data)
    framer = SentenceFramer()
    pieces: list[str] = []
    for i in range(len(data)):  # one byte at a time, as a slow UART delivers them
        pieces += framer.feed(data[i:i + 1])
    framer.flush()
    assert pieces == whole
    assert framer.counters.as_dict() == whole_counters
    assert whole.count(RMC_S) == 6


def test_bad_checksum_rejected_and_counted() -> None:
    broken = GGA.replace(b"59.9", b"59.8")  # payload changed, checksum not
    out, counters = frame(RMC + broken + RMC)
    assert out == [RMC_S, RMC_S]
    assert rejected(counters) == {"bad_checksum": 1}


def test_sentence_without_checksum_rejected() -> None:
    out, counters = frame(b"$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,,M,,\r\n")
    assert out == []
    assert rejected(counters) == {"no_checksum": 1}


def test_truncated_sentence_followed_by_next_one_keeps_the_next() -> None:
    # receiver restarted mid-sentence: "$GPGSA,A,1,$GPRMC,..." on one line
    out, counters = frame(b"$GPGSA,A,1," + RMC)
    assert out == [RMC_S]
    assert rejected(counters) == {"truncated": 1}
    # cut inside the checksum
    out, counters = frame(RMC.strip()[:-1] + b"\r\n")
    assert out == []
    assert rejected(counters) == {"truncated": 1}


def test_cut_off_at_end_of_stream_counts_as_truncated() -> None:
    out, counters = frame(RMC + GGA[:30])
    assert out == [RMC_S]
    assert rejected(counters) == {"truncated": 1}


def test_doubled_dollar_is_repaired() -> None:
    out, counters = frame(b"$" + RMC + b"$" + GGA)
    assert out == [RMC_S, GGA_S]
    assert counters["doubled_start"] == 2
    assert rejected(counters) == {}


def test_nul_bytes_and_non_ascii_rejected_and_counted() -> None:
    damaged = b"$GPRMC,000346.03,A,4808" + b"\x00" * 12 + b"   *12\r\n"
    out, counters = frame(damaged + RMC + b"\xff\xfe" + GGA)
    assert out == [RMC_S, GGA_S]  # noise before a "$" is cut off, the sentence survives
    assert counters["nul_bytes"] == 12
    assert rejected(counters) == {"non_ascii": 1, "garbage": 1}


def test_line_noise_without_sentence_start_is_garbage() -> None:
    out, counters = frame(b"\x15\x03 junk\r\n,20,10,090,41*70\r\n" + RMC)
    assert out == [RMC_S]
    assert rejected(counters) == {"garbage": 2}


def test_interleaved_sentence_is_spliced_back_when_checksum_proves_it() -> None:
    # iSync: a PTNTA sentence emitted in the middle of a GSV, which continues on the next line
    gsv = nmea("GPGSV,4,1,15,02,11,115,36,05,34,060,48,07,00,023,,13,56,090,49").strip()
    inner = nmea("PTNTA,20160203131539,2,T4,000000066,+107,3,0,3").strip()
    cut = 27
    data = gsv[:cut] + inner + b"\r\n" + gsv[cut:] + b"\r\n"
    out, counters = frame(data)
    assert out == [inner.decode(), gsv.decode()]
    assert counters["spliced"] == 1
    assert rejected(counters) == {}
    # the same layout whose rejoined text does not checksum is not invented
    out, counters = frame(gsv[:cut] + inner + b"\r\n" + b"9" + gsv[cut + 1:] + b"\r\n")
    assert out == [inner.decode()]
    assert counters["spliced"] == 0
    assert rejected(counters) == {"truncated": 1, "garbage": 1}


def test_endless_line_is_dropped_as_overlong_and_stream_recovers() -> None:
    data = b"$GPXXX," + b"9" * (MAX_LINE + 10) + b"\r\n" + RMC
    out, counters = frame(data)
    assert out == [RMC_S]
    assert rejected(counters) == {"overlong": 1}
    framer = SentenceFramer()  # the same, delivered in small reads: counted once, not twice
    pieces = [s for i in range(0, len(data), 7) for s in framer.feed(data[i:i + 7])]
    assert pieces == [RMC_S]
    assert rejected(framer.counters.as_dict()) == {"overlong": 1}


def test_ais_sentences_with_bang_are_framed() -> None:
    ais = nmea("AIVDM,1,1,,A,13u?etPv2;0n:dDPwUM1U1Cb069D,0").replace(b"$", b"!", 1)
    out, counters = frame(ais)
    assert out == [ais.decode().strip()]
    assert rejected(counters) == {}


def test_xor_fold_equals_bytewise_xor_for_every_length() -> None:
    import functools
    import operator
    import random

    rng = random.Random(7)
    for n in range(300):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert xor_bytes(data) == functools.reduce(operator.xor, data, 0)
