from smsgate.backoff import doubled


def test_a_wait_doubles_up_to_its_cap() -> None:
    assert [doubled(1.0, times, 10.0) for times in range(-1, 6)] == [1, 1, 2, 4, 8, 10, 10]
    assert doubled(1.0, 10_000, 60.0) == 60.0  # however many failures


def test_jitter_takes_up_to_its_share_off() -> None:
    waits = [doubled(1.0, 0, 10.0, jitter=0.2) for _ in range(200)]
    assert all(0.8 <= wait <= 1.0 for wait in waits)
    assert len(set(waits)) > 1
