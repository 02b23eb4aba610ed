"""The runner's recorded decode step (CUDA graphs on the GPU), exercised on the CPU with a backend
whose "recording" replays the call: inputs must reach the fixed buffers before each replay, and the
logits must equal those of the step run op by op."""
import numpy as np
import pytest

from decode_helpers import build_runner as runner
from decode_helpers import greedy_logits as greedy
from runtime.backend.cpu import CpuBackend
from runtime.errors import OutOfDeviceMemory
from runtime.plugins import registry
from runtime.synth import write_synthetic


class Replay:
    """Like a CUDA graph: recording runs nothing; each launch runs the call on the buffers it saw."""

    def __init__(self, call):
        self.call, self.result, self.launches = call, None, 0

    def launch(self):
        self.launches += 1
        self.result = self.call()


class ReplayingBackend(CpuBackend):
    can_record = True

    def __init__(self):
        super().__init__()
        self.recordings: list[Replay] = []

    def record(self, call):
        self.recordings.append(Replay(call))
        return self.recordings[-1]


def synthetic(tmp_path, preset: str):
    return write_synthetic(registry().synthetic_preset(preset), tmp_path / f"{preset}.gguf", seed=3)


def recording_runner(tmp_path, record: bool):
    """(runner on a ReplayingBackend that records decode steps or not, the same model on the CPU,
    that backend), for gpt-oss-tiny."""
    path = synthetic(tmp_path, "gpt-oss-tiny")
    backend = ReplayingBackend()
    model = runner(path, backend)
    model._step = None if record else False
    return model, runner(path, CpuBackend()), backend


@pytest.mark.parametrize("preset", ["gpt-oss-tiny", "gpt2-tiny", "gemma3-tiny"])
def test_replayed_decode_equals_op_by_op(preset, tmp_path):
    path = synthetic(tmp_path, preset)
    backend = ReplayingBackend()
    replayed, plain = runner(path, backend), runner(path, CpuBackend())
    prompt = [1, 5, 9, 2]
    want = greedy(plain, prompt, 12)
    np.testing.assert_array_equal(greedy(replayed, prompt, 12), want)
    # one recording serves every position, also after a reset
    np.testing.assert_array_equal(greedy(replayed, prompt, 12), want)
    assert len(backend.recordings) == 1 and backend.recordings[0].launches == 24


def test_a_failed_step_is_recorded_again(tmp_path):
    path = synthetic(tmp_path, "gpt2-tiny")
    backend = ReplayingBackend()
    model = runner(path, backend)
    model.forward([1, 2, 3])

    def full_device():
        raise OutOfDeviceMemory("injected")

    backend.record = lambda call: Replay(full_device)
    with pytest.raises(OutOfDeviceMemory):
        model.forward([4])
    assert model.position == 3
    backend.record = ReplayingBackend.record.__get__(backend)
    assert model.forward([4]).shape == (1, model.vocab_size) and model.position == 4
    assert len(backend.recordings) == 1


def test_a_refused_recording_falls_back_to_op_by_op(tmp_path):
    path = synthetic(tmp_path, "gpt2-tiny")
    backend = ReplayingBackend()
    backend.record = lambda call: None
    model, plain = runner(path, backend), runner(path, CpuBackend())
    np.testing.assert_array_equal(greedy(model, [1, 2], 3), greedy(plain, [1, 2], 3))
    assert model._step is False


def plain_greedy(model, prompt, n):
    model.reset()
    got = [model.forward_greedy(prompt)]
    for _ in range(n - 1):
        got.append(model.forward_greedy([got[-1]]))
    return got


@pytest.mark.parametrize("record", [True, False], ids=["replayed", "op-by-op"])
def test_forward_greedy_is_the_argmax_of_the_logits(record, tmp_path):
    model, plain, backend = recording_runner(tmp_path, record)
    want = np.argmax(greedy(plain, [1, 5, 9, 2], 6), axis=-1).tolist()
    assert plain_greedy(model, [1, 5, 9, 2], 7) == want and model.position == 10
    assert len(backend.recordings) == (1 if record else 0)


@pytest.mark.parametrize("record", [True, False], ids=["replayed", "op-by-op"])
def test_greedy_tokens_run_ahead_yet_leave_the_runner_as_if_fed_one_by_one(record, tmp_path):
    model, plain, backend = recording_runner(tmp_path, record)
    prompt = [1, 5, 9, 2]
    want = plain_greedy(plain, prompt, 9)
    model.reset()
    tokens = model.greedy_tokens(prompt)
    got = [next(tokens) for _ in range(6)]
    tokens.close()
    assert got == want[:6]
    # the sixth token was handed out but not fed; the runner goes on from there
    assert model.position == len(prompt) + 5
    assert model.forward_greedy([got[-1]]) == want[6]
    assert len(backend.recordings) == (1 if record else 0)
    if record:  # steps fed tokens 1..6 (the sixth ahead of the caller), then the forward_greedy above
        assert backend.recordings[0].launches == 7


def test_greedy_tokens_stop_at_the_end_of_the_context(tmp_path):
    path = synthetic(tmp_path, "gpt2-tiny")
    model = runner(path, ReplayingBackend())
    model.reset()
    prompt = list(range(1, model.context_length - 2))
    got = list(model.greedy_tokens(prompt))
    # three positions are left: three tokens are fed, and the token after the last is handed out too
    assert len(got) == 4 and model.position == model.context_length


def test_a_failed_greedy_step_leaves_the_runner_usable(tmp_path):
    """A step that fails while greedy_tokens runs ahead: the error reaches the caller, the runner
    stands after the tokens handed out but the last, and the step is recorded again next time."""
    path = synthetic(tmp_path, "gpt2-tiny")
    backend = ReplayingBackend()
    model, plain = runner(path, backend), runner(path, CpuBackend())
    want = plain_greedy(plain, [1, 2, 3], 6)
    model.reset()
    tokens = model.greedy_tokens([1, 2, 3])
    got = [next(tokens), next(tokens)]

    def full_device():
        raise OutOfDeviceMemory("injected")

    backend.recordings[0].call = full_device
    with pytest.raises(OutOfDeviceMemory):
        next(tokens)
    assert got == want[:2] and model.position == 3 + 1 and model._step is None
    assert model.forward_greedy([got[-1]]) == want[2] and len(backend.recordings) == 2
