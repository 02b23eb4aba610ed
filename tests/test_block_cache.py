"""BlockCache: freed device buffers are handed out again only at their exact size, and drain
gives every one of them back."""
from runtime.backend.block_cache import BlockCache


def test_take_returns_a_block_of_exactly_the_size_put():
    cache = BlockCache()
    cache.put(1024, "a")
    cache.put(2048, "b")
    assert cache.take(512) is None and cache.take(4096) is None
    assert (cache.take(1024), cache.cached_bytes, cache.hits) == ("a", 2048, 1)
    assert cache.take(1024) is None


def test_blocks_of_one_size_come_back_last_in_first_out():
    cache = BlockCache()
    for name in "xyz":
        cache.put(64, name)
    assert [cache.take(64) for _ in range(4)] == ["z", "y", "x", None]


def test_drain_hands_back_every_block_and_empties_the_cache():
    cache = BlockCache()
    cache.put(8, 1)
    cache.put(8, 2)
    cache.put(16, 3)
    assert (len(cache), cache.cached_bytes) == (3, 32)
    assert sorted(cache.drain()) == [1, 2, 3]
    assert (len(cache), cache.cached_bytes, cache.take(8)) == (0, 0, None)
