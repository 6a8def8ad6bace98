"""Where two runs part ways, down to the operation (docs/localize.md).

- :mod:`.digest`: exact tensor digests computed on the tensor's device.
- :mod:`.ops`, :mod:`.record`: the op record and the dispatch-mode recorder.
- :mod:`.replay`: replaying a window of a run from a checkpoint, in a fresh process.
- :mod:`.window`, :mod:`.compare`, :mod:`.locate`, :mod:`.result`: ``localize(run_a, run_b)``.
- :mod:`.hunt`: the same run in many fresh processes, distinct final hashes and a bound.
- :mod:`.twice`: every op of a step run twice on the same inputs (``repro scan --run-twice``).

Nothing is imported here: ``python -m repro.localize.replay`` starts light.
"""
