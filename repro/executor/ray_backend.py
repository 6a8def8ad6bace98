"""``ray``: each training run and each evaluation is a Ray task with declared resources.

A task asks for as many CPUs as its run's intra-op threads (``threads``, set explicitly from
``threads_per_task`` when the config leaves it at 0) and for ``gpus_per_task`` GPUs (default 1; a
fraction such as 0.25 packs four runs on one GPU) when the run's device is CUDA (``device=auto`` on
a cluster that has GPUs), so that as many run at once as the cluster holds. A task whose worker
dies is retried by Ray (``max_retries``) and resumes from its last verified checkpoint; an
exception raised by ``train`` (bad input, a diverged run is not one: it is a result) is not
retried. Every worker checks, before it starts, that it sees the driver's probe file in the runs
directory (a shared filesystem on a cluster), and runs its task with the driver's ``REPRO_*``
variables, which the task carries (:mod:`repro.executor.runenv`), not its own.

Joining a cluster: the address is probed first (:func:`probe_address`: name resolution and a TCP
connection, each with a timeout), because ``ray.init`` retries an address with nothing behind it
for minutes. :meth:`RayExecutor.train_and_evaluate` scores each run as soon as it finishes.
Install with ``pip install "repro[ray]"``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from repro import io
from repro.errors import InputError
from repro.executor import worker
from repro.executor.base import (
    ISOLATIONS,
    EvalTask,
    OnEvalDone,
    OnTrainDone,
    TrainTask,
    cpu_count,
    default_threads,
)
from repro.registry import check_choice

# no usage reports, no `uv run` runtime environment, no dashboard: nothing reaches the network
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
PROBE_TIMEOUT_S = 5.0  # name resolution, then the TCP connection to the head node, each at most this long
DEFAULT_RAY_PORT = 6379  # `ray start --head`'s GCS port; a ray:// (Ray Client) address defaults to 10001


def _import_ray():
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise InputError('the ray executor needs Ray: pip install "repro[ray]"') from None
    return ray


def check_gpus_per_task(value: float) -> float:
    """``value`` if Ray can schedule it: a number in (0, 1], or a whole number above 1."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
          and (value <= 1 or float(value).is_integer()))
    if not ok:
        raise InputError(f"invalid gpus_per_task={value!r}: a fraction of one GPU in (0, 1] (e.g. 0.25 packs four "
                         "runs on a GPU) or a whole number of GPUs")
    return float(value)


def _ray_address_file() -> Path:
    return Path(os.environ.get("RAY_TMPDIR") or "/tmp") / "ray" / "ray_current_cluster"


def _split(address: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT``, ``[IPv6]:PORT``, ``ray://HOST[:PORT]`` or ``HOST``."""
    client = address.startswith("ray://")
    rest = address[len("ray://"):] if client else address
    default = 10001 if client else DEFAULT_RAY_PORT
    if rest.startswith("["):  # [::1]:6379
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            host, port_text = rest, ""
    if not host or (port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536)):
        raise InputError(f"invalid --ray-address {address!r}: expected HOST:PORT of the cluster's head node "
                         "(e.g. 10.0.0.5:6379), ray://HOST:PORT, or auto")
    return host, int(port_text) if port_text else default


def probe_address(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail within about ``2 x timeout`` seconds, in one line, when nothing answers at ``address``.

    ``auto`` probes what Ray would join: ``$RAY_ADDRESS``, else the cluster a local ``ray start``
    recorded (nothing to probe when there is none: ``ray.init`` then says so at once)."""
    if address == "auto":
        recorded = os.environ.get("RAY_ADDRESS") or ""
        if not recorded and _ray_address_file().is_file():
            recorded = _ray_address_file().read_text(encoding="utf-8").strip()
        if not recorded or recorded == "auto":
            return
        address = recorded
    host, port = _split(address)
    found: list[Any] = []

    def resolve() -> None:  # getaddrinfo has no timeout of its own
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    worker = threading.Thread(target=resolve, daemon=True)
    worker.start()
    worker.join(timeout)
    hint = ("start one with `ray start --head --port=PORT`, or pass --ray-address HOST:PORT of its head node "
            "(or auto)")
    if not found:
        raise InputError(f"cannot reach the Ray cluster at {address}: the name {host!r} did not resolve within "
                         f"{timeout:g} s; {hint}")
    if isinstance(found[0], OSError):
        raise InputError(f"cannot reach the Ray cluster at {address}: the name {host!r} does not resolve "
                         f"({found[0].strerror or found[0]}); {hint}")
    errors = []
    for family, kind, proto, _, sockaddr in found[0]:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            return
        except OSError as exc:
            errors.append("timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)))
    raise InputError(f"cannot reach the Ray cluster at {address}: nothing answers on port {port} of {host} "
                     f"({errors[0] if errors else 'no address'}); {hint}")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, threads_per_task: int | None = None, max_retries: int = 3,
                 jobs: int | None = None, isolation: str = "in-process", gpus_per_task: float = 1.0,
                 probe_timeout_s: float = PROBE_TIMEOUT_S):
        check_choice("isolation", isolation, ISOLATIONS)
        self.isolation = isolation
        self.gpus_per_task = check_gpus_per_task(gpus_per_task)
        ray = self._ray = _import_ray()
        self.max_retries = max_retries
        self.threads_per_task = default_threads("ray", jobs, threads_per_task)
        self.address = address
        self._owned = False
        if not ray.is_initialized():
            if address is not None:
                probe_address(address, probe_timeout_s)  # before ray.init, which retries an empty address for minutes
            try:
                if address is None:  # a local instance sized to this machine, ended by close()
                    ray.init(num_cpus=cpu_count(), include_dashboard=False, log_to_driver=True,
                             logging_level="WARNING")
                    self._owned = True
                else:
                    ray.init(address=address, log_to_driver=True, logging_level="WARNING")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address!r} ({exc}); start one with "
                                 "`ray start --head` or pass --ray-address HOST:PORT of its head node") from None
        resources = ray.cluster_resources()
        self.cluster_cpus = int(resources.get("CPU", 0))
        self.cluster_gpus = int(resources.get("GPU", 0))
        self.node_cpus = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=0)
        self.jobs = jobs or max(1, self.cluster_cpus // self.threads_per_task)
        self._cap = jobs  # None: as many as the cluster holds
        # retried: a dead worker (SIGKILL, out of memory, a lost node); not retried: what train raises
        # isolation=process: the task trains in a process spawned for it alone (run_train_fresh): a
        # worker's max_calls=1 is not enough, since Ray may lease a task a worker that ran others
        train_fn = worker.run_train_fresh if isolation == "process" else worker.run_train
        self._train = ray.remote(max_retries=max_retries, retry_exceptions=False)(train_fn)
        self._eval = ray.remote(max_retries=max_retries, retry_exceptions=False)(worker.run_eval)

    # ------------------------------------------------------------------ interface
    def train(self, tasks: list[TrainTask], *, on_done: OnTrainDone | None = None) -> dict[str, dict]:
        return self._collect(tasks, on_done)

    def evaluate(self, tasks: list[EvalTask], *, on_done: OnEvalDone | None = None) -> dict[str, dict]:
        return self._collect(tasks, on_done)

    def train_and_evaluate(self, tasks: list[TrainTask], eval_for: Callable[[TrainTask, dict], EvalTask | None], *,
                           on_train_done: OnTrainDone | None = None, on_eval_done: OnEvalDone | None = None
                           ) -> tuple[dict[str, dict], dict[str, dict]]:
        """Train every task and score each run as soon as its training ends, with no barrier between
        the two phases: ``eval_for(task, record)`` (called in this process as each run finishes) gives
        the run's :class:`EvalTask`, or None for a run with no score (a diverged one). Returns
        ``(run records, metrics)``, each by run id; errors as :meth:`train`'s."""
        records: dict[str, dict] = {}
        metrics: dict[str, dict] = {}

        def done(task, result):
            if isinstance(task, EvalTask):
                metrics[task.run_id] = result
                if on_eval_done is not None:
                    on_eval_done(task, result)
                return []
            records[task.run_id] = result
            if on_train_done is not None:
                on_train_done(task, result)
            then = eval_for(task, result)
            return [] if then is None else [self._prepare(then)]

        self._run([self._prepare(t) for t in tasks], done)
        return records, metrics

    def close(self) -> None:
        if self._ray.is_initialized():
            self._ray.shutdown()  # ends a local instance we started; only disconnects from a cluster

    # ------------------------------------------------------------------ internals
    def _gpus(self, device: str) -> float:
        if device.startswith("cuda"):
            if not self.cluster_gpus:
                raise InputError(f"device={device} asks for a GPU but the Ray cluster has none")
            return self.gpus_per_task
        return self.gpus_per_task if device == "auto" and self.cluster_gpus else 0

    def _check_fits(self, run_id: str, cpus: int) -> None:
        if cpus > self.node_cpus:  # Ray would wait for such a node forever
            raise InputError(f"run {run_id} asks for {cpus} CPUs (its threads) but the largest Ray node has "
                             f"{self.node_cpus}; lower threads (--set threads=N) or add larger nodes")

    @staticmethod
    def _prepare(task):
        """Absolute paths (a worker's working directory is not the driver's), no step bar."""
        if isinstance(task, EvalTask):
            return dataclasses.replace(task, run_dir=Path(task.run_dir).resolve(), out=Path(task.out).resolve())
        return dataclasses.replace(task, run_dir=Path(task.run_dir).resolve(), progress=False)

    def _submit(self, task, probe, kill):
        if isinstance(task, EvalTask):
            try:
                device = io.read_json(task.run_dir / "config.json", "run config").get("device", "auto")
            except (ValueError, AttributeError):
                device = "auto"
            return self._eval.options(num_cpus=self.threads_per_task, num_gpus=self._gpus(device)).remote(
                task, probe, self.threads_per_task)
        cpus = task.config.threads or self.threads_per_task
        self._check_fits(task.run_id, cpus)
        return self._train.options(num_cpus=cpus, num_gpus=self._gpus(task.config.device)).remote(task, probe, kill)

    def _collect(self, tasks: list, on_done: Callable[[Any, dict], None] | None) -> dict[str, dict]:
        """Run ``tasks`` (all training or all scoring); their results by run id, each passed to
        ``on_done`` as it arrives."""
        out: dict[str, dict] = {}

        def done(task, result):
            out[task.run_id] = result
            if on_done is not None:
                on_done(task, result)
            return []

        self._run([self._prepare(t) for t in tasks], done)
        return out

    def _run(self, tasks, on_done: Callable[[Any, dict], list]) -> None:
        """Run ``tasks`` at most ``jobs`` at a time; ``on_done(task, result)`` returns tasks to run next."""
        ray = self._ray
        if not tasks:
            return
        probe = _write_probe([Path(t.run_dir) for t in tasks])
        kill = worker.kill_spec()
        waiting = list(tasks)
        running: dict[Any, Any] = {}
        error: BaseException | None = None
        try:
            while (waiting and error is None) or running:
                while waiting and error is None and (self._cap is None or len(running) < self._cap):
                    task = waiting.pop(0)
                    running[self._submit(task, probe, kill)] = task
                if not running:
                    break
                done, _ = ray.wait(list(running), num_returns=1)
                task = running.pop(done[0])
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as exc:
                    error = error or _cause(exc)
                    for ref in running:
                        ray.cancel(ref)
                    continue
                except ray.exceptions.RayError as exc:  # the worker or its node died, out of memory, cancelled
                    if isinstance(exc, ray.exceptions.TaskCancelledError) and error is not None:
                        continue  # cancelled by us after another task's error
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                    error = error or RuntimeError(
                        f"the worker running {task.run_id} failed after {self.max_retries} retries ({first}); "
                        f"its run directory {task.run_dir} keeps the last verified checkpoint: run the audit "
                        "again to resume it")
                    continue
                if error is None:
                    waiting[:0] = on_done(task, result)  # a run's evaluation goes ahead of runs not started
                else:
                    on_done(task, result)
        finally:
            Path(probe[0]).unlink(missing_ok=True)
        if error is not None:
            raise error


def _cause(exc: BaseException) -> BaseException:
    """The exception a task raised, as its own type where Ray can give it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _write_probe(run_dirs: list[Path]) -> tuple[str, str]:
    """A file with a random token in the directory holding every run directory: a worker that
    does not read the same token does not share the driver's filesystem."""
    root = Path(os.path.commonpath([str(d.parent) for d in run_dirs]))
    root.mkdir(parents=True, exist_ok=True)
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
    path = root / f"{worker.PROBE_NAME}-{token.rsplit(':', 1)[1]}"
    io.write_text(path, token + "\n")
    return str(path), token
