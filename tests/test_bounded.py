from smsgate.bounded import keep_newest


def test_the_oldest_entry_goes_past_the_limit() -> None:
    entries: dict[str, int] = {}
    for number, key in enumerate("abcd"):
        keep_newest(entries, key, number, limit=3)
    assert entries == {"b": 1, "c": 2, "d": 3}


def test_an_entry_set_again_becomes_the_newest() -> None:
    entries = {"a": 0, "b": 1, "c": 2}
    keep_newest(entries, "a", 10, limit=3)
    keep_newest(entries, "d", 3, limit=3)
    assert list(entries.items()) == [("c", 2), ("a", 10), ("d", 3)]
