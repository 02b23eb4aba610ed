"""Building a runner straight from a GGUF file and greedy decoding with it, for the tests that
compare two ways of running the same steps."""
import numpy as np

from runtime.gguf.reader import open_gguf
from runtime.plugins import registry


def build_runner(path, backend, max_context: int = 128):
    gguf = open_gguf(path)
    adapter = registry().adapter_class(gguf.architecture)(gguf.architecture)
    return adapter.build(gguf, adapter.config(gguf.metadata), backend, max_context=max_context)


def greedy_logits(model, prompt: list[int], steps: int) -> np.ndarray:
    """Last-position logits of the prompt, then of each greedily chosen token: [steps + 1, vocab]."""
    model.reset()
    logits = [model.forward(prompt, logits_for="last")[0]]
    for _ in range(steps):
        logits.append(model.forward([int(np.argmax(logits[-1]))], logits_for="last")[0])
    return np.stack(logits)
