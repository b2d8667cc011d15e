import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.segments import Encoding, Segmentation, segment_text

CYRILLIC = "я"
EMOJI = "😀"
GSM_EXTENSION = "^{}\\[~]|€\f"
GSM_BASIC_SAMPLE = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà"


def part_lengths(segmentation: Segmentation) -> list[int]:
    return [len(part) for part in segmentation.parts]


@pytest.mark.parametrize(
    ("size", "lengths"),
    [
        (1, [1]),
        (160, [160]),
        (161, [153, 8]),
        (306, [153, 153]),
        (307, [153, 153, 1]),
        (1530, [153] * 10),
    ],
)
def test_gsm7_part_sizes(size: int, lengths: list[int]) -> None:
    segmentation = segment_text("a" * size)
    assert segmentation.encoding is Encoding.GSM7
    assert part_lengths(segmentation) == lengths


@pytest.mark.parametrize(
    ("size", "lengths"),
    [(70, [70]), (71, [67, 4]), (134, [67, 67]), (670, [67] * 10)],
)
def test_ucs2_part_sizes(size: int, lengths: list[int]) -> None:
    segmentation = segment_text(CYRILLIC * size)
    assert segmentation.encoding is Encoding.UCS2
    assert part_lengths(segmentation) == lengths


def test_extension_character_counts_two_septets() -> None:
    assert part_lengths(segment_text("a" * 158 + "€")) == [159]
    assert part_lengths(segment_text("a" * 159 + "€")) == [153, 7]
    assert len(segment_text("{" * 80).parts) == 1
    assert len(segment_text("{" * 81).parts) == 2


def test_escape_pair_is_never_split() -> None:
    # "€" would take septets 153 and 154: it moves whole to the next part.
    segmentation = segment_text("a" * 152 + "€" + "b" * 10)
    assert segmentation.parts == ("a" * 152, "€" + "b" * 10)


def test_surrogate_pair_is_never_split() -> None:
    # The emoji would take code units 67 and 68: it moves whole to the next part.
    segmentation = segment_text(CYRILLIC * 66 + EMOJI + CYRILLIC * 10)
    assert segmentation.encoding is Encoding.UCS2
    assert segmentation.parts == (CYRILLIC * 66, EMOJI + CYRILLIC * 10)


def test_emoji_takes_two_code_units() -> None:
    assert len(segment_text(EMOJI * 35).parts) == 1
    assert len(segment_text(EMOJI * 36).parts) == 2


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Hello, world!", Encoding.GSM7),
        (GSM_BASIC_SAMPLE + GSM_EXTENSION, Encoding.GSM7),
        ("", Encoding.GSM7),
        ("Привет", Encoding.UCS2),
        ("Hello `quoted`", Encoding.UCS2),  # the backtick is not in GSM 03.38
        ("ç", Encoding.UCS2),  # GSM 03.38 has only the capital Ç
        ("tab\there", Encoding.UCS2),
        ("escape\x1b", Encoding.UCS2),
        ("Hi " + EMOJI, Encoding.UCS2),
    ],
)
def test_encoding(text: str, encoding: Encoding) -> None:
    assert segment_text(text).encoding is encoding


def test_empty_text_is_one_empty_part() -> None:
    assert segment_text("") == Segmentation(Encoding.GSM7, ("",))


@pytest.mark.parametrize(
    ("text", "parts"),
    [("a" * 1531, 11), ("€" * 766, 11), (CYRILLIC * 671, 11), (CYRILLIC * 1000, 15)],
)
def test_more_than_ten_parts_is_refused(text: str, parts: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        segment_text(text)
    assert caught.value.desc == f"Text is too long: {parts} parts, at most 10"
    assert caught.value.code == 2


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="not valid Unicode"):
        segment_text("broken \ud83d")


def oracle(text: str) -> tuple[Encoding, list[str]]:
    """Character-by-character greedy split, sizes measured by the codecs."""
    try:
        text.encode("gsm03.38")
        gsm = "\x1b" not in text
    except UnicodeEncodeError:
        gsm = False
    if gsm:
        encoding, codec, unit, single, multi = Encoding.GSM7, "gsm03.38", 1, 160, 153
    else:
        encoding, codec, unit, single, multi = Encoding.UCS2, "utf-16-le", 2, 70, 67
    if len(text.encode(codec)) <= single * unit:
        return encoding, [text]
    parts = [""]
    used = 0
    for char in text:
        size = len(char.encode(codec)) // unit
        if used + size > multi:
            parts.append("")
            used = 0
        parts[-1] += char
        used += size
    return encoding, parts


mixed_text = st.text(
    st.one_of(
        st.sampled_from(GSM_BASIC_SAMPLE + GSM_EXTENSION),
        st.sampled_from(CYRILLIC + EMOJI + "€{"),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=900,
)
gsm_text = st.text(st.sampled_from(GSM_BASIC_SAMPLE + GSM_EXTENSION), max_size=1700)


@settings(max_examples=400, deadline=None)
@given(st.one_of(gsm_text, mixed_text))
def test_matches_a_greedy_character_by_character_split(text: str) -> None:
    encoding, parts = oracle(text)
    if len(parts) > 10:
        with pytest.raises(InvalidArgument, match=f"^Text is too long: {len(parts)} parts"):
            segment_text(text)
        return
    segmentation = segment_text(text)
    assert segmentation == Segmentation(encoding, tuple(parts))
    assert "".join(segmentation.parts) == text
