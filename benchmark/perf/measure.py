"""`gapbench perf`: gapbench's update speed and memory against a plain reference, measured in one run.

Every speed figure is a ratio taken inside one process (or one round of processes), so that a
shared, noisy machine moves both sides of it alike:

* **update speed**: gapbench's real update (``get_method(name).make(spec)``, batches drawn from a
  `FixedDataset` / `ReplayBuffer` exactly as `training.loop` draws them, then
  ``agent.update(real, sim)``) against the plain one-seed update of the same maths in
  `perf.reference`, in interleaved blocks, one thread;
* **population**: agent-updates/s (K x rounds/s) of a K-member population against K=1;
* **local executor**: total updates/s of the machine with 1 worker process and with ``nproc``
  worker processes, each set up as `LocalExecutor` sets up its workers (OMP/MKL threads 1,
  ``torch.set_num_threads(1)``) and timing the same update for the same wall-clock time;
* **memory**: peak RSS of a fresh process that loads a full-size D4RL file and builds the H2O
  `Training` (dataset, sim buffer, agent, envs) around it, then makes a few updates;
* **dataset load**: ``envs.load_d4rl`` of a full-size file written with ``envs.save_d4rl``.

The targets come from issue 6 and reference/perf-cpu.md; docs/performance.md records a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gapbench.benchmark.host import cpu_features, cpu_model, cpu_text
from gapbench.benchmark.perf.reference import make_reference, split_rows
from gapbench.benchmark.training.precision import critic_layout_here, update_region

TASK = "halfcheetah"
DEFAULT_METHODS = ("sac", "cql", "darc", "h2o")
POPULATION_TARGET_METHODS = ("sac", "darc", "h2o")  # CQL's K x 7936-row activations are memory-bound
SPEED_TARGETS = {"sac": 1.2, "darc": 1.15, "h2o": 1.15, "cql": 1.0}  # issue 6; the field's methods have none yet
K1_TARGET, K5_TARGET, WORKERS_TARGET = 0.95, 1.0, 1.8
LOAD_TARGET_S, RSS_TARGET_GIB = 5.0, 2.0
FULL_DATASET, FULL_SIM_BUFFER = 2_000_000, 1_000_000
DATA_ROWS = 200_000  # rows of synthetic data the speed workloads draw batches from


# ----------------------------------------------------------------------------- workloads


def _synthetic_rows(layout, rows: int, gen: np.random.Generator) -> np.ndarray:
    obs = gen.standard_normal((rows, layout.obs_dim), dtype=np.float32)
    act = np.tanh(gen.standard_normal((rows, layout.act_dim), dtype=np.float32))
    next_obs = obs + 0.1 * gen.standard_normal((rows, layout.obs_dim), dtype=np.float32)
    rew = gen.standard_normal(rows, dtype=np.float32)
    return layout.pack(obs, act, rew, next_obs, np.zeros(rows, bool))


class Workload:
    """One method's gapbench agent and its plain reference, fed from the same synthetic data."""

    def __init__(self, name: str, population: int = 1, device: str = "cpu", data_rows: int = DATA_ROWS,
                 reference: bool = True, precision: str = "fp32"):
        from gapbench import envs
        from gapbench.algos import (
            AgentSpec,
            FixedDataset,
            Layout,
            PopulationRNG,
            RealDataStats,
            ReplayBuffer,
            get_method,
        )

        task = envs.get_task(TASK)
        self.name, self.device, self.population = name, device, population
        self.precision = precision
        self.layout = layout = Layout(task.obs_dim, task.act_dim)
        rows = _synthetic_rows(layout, data_rows, np.random.default_rng(0))
        seeds = list(range(population))
        stats = RealDataStats.of(rows[:, : layout.obs_dim])
        critic = critic_layout_here(precision, device)  # as the training loop picks it
        self.agent = get_method(name).make(AgentSpec(task.obs_dim, task.act_dim, seeds, device, stats, critic))
        self.sizes = self.agent.batch_sizes()
        self.real = FixedDataset(rows, layout, device) if "real" in self.sizes else None
        self.buffer = None
        if "sim" in self.sizes:  # the sim buffer as the loop fills it: one row per member per step
            self.buffer = ReplayBuffer(population, data_rows, layout, device)
            self.buffer.load_state_dict({"rows": torch.as_tensor(rows).expand(population, -1, -1),
                                         "position": 0, "size": data_rows})
        self.batch_rng = PopulationRNG(seeds, "batches", device)
        self.reference = None
        if reference:
            noise = self.agent.next_state_noise_factor.cpu().numpy() if name == "h2o" else None
            moments = ((self.agent.obs_mean.cpu().numpy(), self.agent.obs_std.cpu().numpy())
                       if hasattr(self.agent, "obs_mean") else None)
            self.reference = make_reference(name, self.agent.config, task.obs_dim, task.act_dim, 0, noise, device,
                                            moments)
            self.reference.copy_from(self.agent)
            # as the authors' buffer holds the data (TD3+BC's states normalised once, up front)
            self.ref_rows = torch.as_tensor(self.reference.prepare_rows(rows), device=device)
            self.ref_generator = torch.Generator(device=device)
            self.ref_generator.manual_seed(0)

    def update(self) -> None:
        """gapbench: the training loop's sampling and `agent.update`."""
        real = self.real.sample(self.batch_rng, self.sizes["real"]) if self.real is not None else None
        sim = self.buffer.sample(self.batch_rng, self.sizes["sim"]) if self.buffer is not None else None
        with update_region(self.precision, self.device):
            self.agent.update(real, sim)

    def reference_update(self) -> None:
        """The plain reference: one randint gather per source from a packed tensor, then `train`."""
        batches = {}
        for source, size in self.reference.batch_sizes().items():
            index = torch.randint(len(self.ref_rows), (size,), generator=self.ref_generator, device=self.device)
            batches[source] = split_rows(self.ref_rows[index], self.layout.obs_dim, self.layout.act_dim)
        with update_region(self.precision, self.device):
            self.reference.train(batches.get("real"), batches.get("sim"))


# ----------------------------------------------------------------------------- timing


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass
class Series:
    """Calls per second of each block, and the process's CPU time over wall time in each."""

    rates: list[float] = field(default_factory=list)
    cpu_share: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def interleaved(runners: dict[str, Callable[[], None]], seconds: float, blocks: int, device: str = "cpu",
                scale: dict[str, float] | None = None) -> dict[str, Series]:
    """Time each runner in `blocks` blocks of about seconds/blocks, alternating the order.

    Warm-up first (at least 3 calls and a tenth of a block), then the number of calls per block is
    set from the warm-up speed. `scale` multiplies a runner's calls (K agent-updates per round).
    """
    per_block = seconds / blocks
    calls = {}
    for name, fn in runners.items():
        n, start = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - start < 0.1 * per_block:
            fn()
            n += 1
        _sync(device)
        calls[name] = max(1, round(per_block / ((time.perf_counter() - start) / n)))
    out = {name: Series() for name in runners}
    names = list(runners)
    for b in range(blocks):
        for name in names if b % 2 == 0 else names[::-1]:
            fn, n = runners[name], calls[name]
            _sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            _sync(device)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            out[name].rates.append(n * (scale or {}).get(name, 1.0) / wall)
            out[name].cpu_share.append(cpu / wall)
    return out


def paired_ratios(a: Series, b: Series) -> list[float]:
    """Block-by-block ratios a/b: each pair ran back to back, so slow drifts of the load cancel."""
    return [x / y for x, y in zip(a.rates, b.rates)]


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


# ----------------------------------------------------------------------------- sections


def measure_updates(methods: list[str], seconds: float, blocks: int, device: str,
                    precision: str = "fp32") -> dict[str, Any]:
    """gapbench vs the plain reference per method."""
    results = {}
    for name in methods:
        work = Workload(name, 1, device, precision=precision)
        series = interleaved({"gapbench": work.update, "reference": work.reference_update}, seconds, blocks, device)
        results[name] = {"gapbench": series["gapbench"], "reference": series["reference"],
                         "ratio": paired_ratios(series["gapbench"], series["reference"])}
        del work
    return results


def measure_population(methods: list[str], sizes: list[int], seconds: float, blocks: int,
                       device: str, precision: str = "fp32") -> dict[str, Any]:
    """Agent-updates/s at each population size K, against K=1 in the same interleaved run."""
    results = {}
    for name in methods:
        works = {k: Workload(name, k, device, reference=False, precision=precision) for k in sizes}
        series = interleaved({f"K={k}": w.update for k, w in works.items()}, seconds * len(sizes) / 2, blocks,
                             device, scale={f"K={k}": float(k) for k in sizes})
        base = series["K=1"]
        results[name] = {k: {"rate": series[f"K={k}"], "ratio": paired_ratios(series[f"K={k}"], base)}
                         for k in sizes}
        del works
    return results


def _worker_env() -> dict[str, str]:
    """What `LocalExecutor` gives each worker process: one OpenMP/MKL thread."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class _Workers:
    """`count` worker processes, warm and waiting; `run(n)` times the first n of them together."""

    def __init__(self, method: str, count: int, device: str):
        self.procs = [subprocess.Popen([sys.executable, "-m", "gapbench.benchmark.perf.measure", "_worker", method, device],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(), text=True)
                      for _ in range(count)]
        for p in self.procs:
            if p.stdout.readline().strip() != "ready":
                self.close()
                raise RuntimeError("a perf worker process failed to start")

    def run(self, n: int, seconds: float) -> float:
        """Total updates/s of n workers timing `seconds` each, started at the same moment."""
        for p in self.procs[:n]:
            p.stdin.write(f"{seconds}\n")
            p.stdin.flush()
        return sum(json.loads(p.stdout.readline())["rate"] for p in self.procs[:n])

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.stdin.close()
        for p in self.procs:
            p.wait()


def _worker_main(method: str, device: str) -> int:
    """A worker as `LocalExecutor` starts one: warm up, then time `update` for each duration read from stdin."""
    torch.set_num_threads(1)
    work = Workload(method, 1, device, reference=False)
    start = time.perf_counter()
    while time.perf_counter() - start < 0.5:
        work.update()
    print("ready", flush=True)
    for line in sys.stdin:
        for _ in range(3):  # caches went cold while the other round ran
            work.update()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < float(line):
            work.update()
            n += 1
        _sync(device)
        print(json.dumps({"rate": n / (time.perf_counter() - start)}), flush=True)
    return 0


def measure_workers(method: str, seconds: float, rounds: int, device: str) -> dict[str, Any]:
    """1 worker against `nproc` workers on the same update, alternating which goes first."""
    workers = os.cpu_count() or 1
    pool = _Workers(method, workers, device)
    one, many = [], []
    try:
        for r in range(rounds):
            for n in ([1, workers] if r % 2 == 0 else [workers, 1]):
                (one if n == 1 else many).append(pool.run(n, seconds))
    finally:
        pool.close()
    return {"method": method, "workers": workers, "one": one, "many": many,
            "ratio": [m / o for m, o in zip(many, one)]}


def write_dataset(path: Path, transitions: int) -> Path:
    """A D4RL-format file of `transitions` rows: 1000-step episodes cut by the time limit."""
    from gapbench import envs
    task = envs.get_task(TASK)
    gen = np.random.default_rng(0)
    timeouts = np.zeros(transitions, bool)
    timeouts[task.max_episode_steps - 1 :: task.max_episode_steps] = True
    obs = gen.standard_normal((transitions, task.obs_dim), dtype=np.float32)
    data = envs.Transitions(observations=obs,
                            actions=np.tanh(gen.standard_normal((transitions, task.act_dim), dtype=np.float32)),
                            rewards=gen.standard_normal(transitions, dtype=np.float32),
                            next_observations=obs + 0.1 * gen.standard_normal(obs.shape, dtype=np.float32),
                            terminals=np.zeros(transitions, bool), timeouts=timeouts)
    del obs
    return envs.save_d4rl(data, path, {"task": TASK, "source": "gapbench perf (synthetic)"})


def measure_load(path: Path, repeats: int = 3) -> list[float]:
    from gapbench import envs
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        data = envs.load_d4rl(path, task=TASK)
        times.append(time.perf_counter() - start)
        del data
    return times


def measure_memory(path: Path, sim_rows: int, device: str) -> dict[str, Any]:
    """Peak RSS of a fresh process that sets up one H2O run on the file (see `_memory_main`)."""
    out = subprocess.run([sys.executable, "-m", "gapbench.benchmark.perf.measure", "_memory", str(path), str(sim_rows), device],
                         env=_worker_env(), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the memory probe failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_gib() -> float:
    """This process's peak resident set so far, in GiB.

    On Linux this is VmHWM: `getrusage`'s ru_maxrss is not reset by exec, so a probe process would
    report at least the RSS of the `gapbench perf` process that forked it.
    """
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 2**20  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


def _memory_main(path: str, sim_rows: str, device: str) -> int:
    """Load the data, build the H2O `Training` as `cell.experiment` does, fill the sim buffer
    to capacity, make 20 updates; print the peak RSS after each stage."""
    from gapbench import envs
    from gapbench.algos import get_method
    from gapbench.benchmark.training.loop import TrainConfig, Training

    torch.set_num_threads(1)
    stages = {"imports": _rss_gib()}
    real = envs.load_d4rl(path, task=TASK)
    stages["dataset loaded"] = _rss_gib()
    rows = int(sim_rows)
    cfg = TrainConfig(steps=rows, sim_steps_per_epoch=1000, updates_per_epoch=1000, sim_buffer_size=rows,
                      device=device)
    # as benchmark.experiment.main, which keeps `real` referenced for the whole run
    training = Training(get_method("h2o"), {}, cfg, TASK, envs.parse_gap("gravity:2.0"), real, [0])
    stages["run built"] = _rss_gib()
    buffer, gen = training.buffer, np.random.default_rng(1)
    for start in range(0, rows, 100_000):  # as a million sim steps would, one chunk at a time
        chunk = _synthetic_rows(training.layout, min(100_000, rows - start), gen)
        buffer.rows[:, start : start + len(chunk)] = torch.as_tensor(chunk, device=buffer.rows.device)
    buffer.size, buffer.position = rows, 0
    stages["sim buffer full"] = _rss_gib()
    for _ in range(20):
        real_batch = training.real.sample(training.batch_rng, training.sizes["real"])
        sim_batch = buffer.sample(training.batch_rng, training.sizes["sim"])
        training.agent.update(real_batch, sim_batch)
    stages["20 updates"] = _rss_gib()
    print(json.dumps({"peak_gib": _rss_gib(), "stages": stages, "dataset_rows": len(real), "sim_rows": rows}))
    return 0


def gemm_gflops(size: int = 512, seconds: float = 1.0) -> float:
    """fp32 matmul rate of one thread: the roofline the update speeds sit under."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - start) / 1e9


# ----------------------------------------------------------------------------- the report


@dataclass
class Options:
    methods: list[str]
    seconds: float = 10.0
    population: list[int] = field(default_factory=lambda: [1, 5, 10])
    blocks: int = 5
    device: str = "cpu"
    precision: str = "fp32"
    workers: bool = True
    memory: bool = True
    dataset_size: int = FULL_DATASET
    sim_buffer_size: int = FULL_SIM_BUFFER
    json_path: str | None = None


def run(options: Options, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure everything `options` asks for; print progress and the tables; return the raw numbers."""
    from tabulate import tabulate

    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]
    layout = critic_layout_here(options.precision, options.device)
    say(f"gapbench perf: {cpu_text()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
        f"device {options.device}, {options.precision}, critic layout {layout}, 1 thread, "
        f"{options.seconds:g} s per timed configuration, {options.blocks} interleaved blocks")
    gflops = gemm_gflops()
    say(f"fp32 GEMM 512x512, 1 thread: {gflops:.0f} GFLOP/s; load average (1 min) {load_start:.2f}")
    raw: dict[str, Any] = {"cpu": cpu_model(), "cpu_features": cpu_features(), "cpus": os.cpu_count(), "torch": torch.__version__,
                           "options": asdict(options), "critic_layout": layout, "gemm_gflops": gflops,
                           "load_start": load_start}
    targets: list[tuple[str, str, str, str]] = []

    def target(measure: str, goal: str, value: str, ok: bool | None) -> None:
        targets.append((measure, goal, value, "n/a" if ok is None else "PASS" if ok else "FAIL"))

    say("\n1. update speed, one seed, one thread: gapbench vs the plain reference (updates/s)")
    updates = measure_updates(options.methods, options.seconds, options.blocks, options.device, options.precision)
    rows = []
    for name, r in updates.items():
        rows.append([name, spread(r["gapbench"].rates), spread(r["reference"].rates), spread(r["ratio"], "{:.2f}x"),
                     f"{min(r['gapbench'].cpu_share + r['reference'].cpu_share):.2f}"])
    say(tabulate(rows, ["method", "gapbench median [min-max]", "reference median [min-max]",
                        "ratio median [min-max]", "min cpu/wall"], tablefmt="simple"))
    raw["updates"] = {n: {"gapbench": r["gapbench"].rates, "reference": r["reference"].rates,
                          "ratio": r["ratio"]} for n, r in updates.items()}
    for name, r in updates.items():
        goal = SPEED_TARGETS.get(name)
        ratio = statistics.median(r["ratio"])
        if goal is not None:
            target(f"{name} update vs plain reference", f">= {goal:.2f}x", f"{ratio:.2f}x", ratio >= goal)
    for name, r in updates.items():
        ratio = statistics.median(r["ratio"])
        target(f"{name} population K=1 vs plain reference", f">= {K1_TARGET:.2f}x", f"{ratio:.2f}x",
               ratio >= K1_TARGET)

    sizes = sorted({1, *options.population})
    if len(sizes) > 1:
        say(f"\n2. population: agent-updates/s (K x rounds/s), one thread, K in {sizes}")
        population = measure_population(options.methods, sizes, options.seconds, options.blocks, options.device,
                                        options.precision)
        rows = []
        for name, by_k in population.items():
            rows.append([name] + [spread(by_k[k]["rate"].rates) for k in sizes]
                        + [spread(by_k[k]["ratio"], "{:.2f}x") for k in sizes if k != 1])
        say(tabulate(rows, ["method"] + [f"K={k}" for k in sizes] + [f"K={k} / K=1" for k in sizes if k != 1],
                     tablefmt="simple"))
        raw["population"] = {n: {str(k): {"rate": v["rate"].rates, "ratio": v["ratio"]} for k, v in by_k.items()}
                             for n, by_k in population.items()}
        if 5 in sizes:
            for name, by_k in population.items():
                ratio = statistics.median(by_k[5]["ratio"])
                ok = ratio >= K5_TARGET if name in POPULATION_TARGET_METHODS else None
                goal = f">= {K5_TARGET:.2f}x" if ok is not None else "none (memory-bound)"
                target(f"{name} population K=5 per member vs K=1", goal, f"{ratio:.2f}x", ok)

    if options.workers:
        method = "sac" if "sac" in options.methods else options.methods[0]
        workers = measure_workers(method, options.seconds, 3, options.device)
        say(f"\n3. local executor: whole-machine {method} updates/s, worker processes of 1 thread each "
            f"(3 rounds, order alternated)")
        say(tabulate([[1, " / ".join(f"{x:.1f}" for x in workers["one"])],
                      [workers["workers"], " / ".join(f"{x:.1f}" for x in workers["many"])]],
                     ["workers", "updates/s per round"], tablefmt="simple"))
        raw["workers"] = workers
        ratio = statistics.median(workers["ratio"])
        n = workers["workers"]
        target(f"local executor, {n} workers vs 1", f">= {WORKERS_TARGET:.2f}x" if n >= 2 else "n/a (1 CPU)",
               f"{ratio:.2f}x", ratio >= WORKERS_TARGET if n >= 2 else None)

    if options.memory:
        full = options.dataset_size >= FULL_DATASET and options.sim_buffer_size >= FULL_SIM_BUFFER
        with tempfile.TemporaryDirectory(prefix="gapbench-perf-") as tmp:
            say(f"\n4. data and memory: a {options.dataset_size:,}-transition D4RL file, "
                f"a {options.sim_buffer_size:,}-row sim buffer")
            path = write_dataset(Path(tmp) / "perf.hdf5", options.dataset_size)
            load = measure_load(path)
            memory = measure_memory(path, options.sim_buffer_size, options.device)
        say(tabulate([["envs.load_d4rl (file in the page cache), s", spread(load, "{:.2f}")],
                      ["peak RSS of the H2O run set-up, GiB", f"{memory['peak_gib']:.2f}"]]
                     + [[f"  peak RSS after {stage}, GiB", f"{v:.2f}"] for stage, v in memory["stages"].items()],
                     ["measure", "value"], tablefmt="simple"))
        raw["load_s"], raw["memory"] = load, memory
        size = f"{options.dataset_size / 1e6:g}M"
        t = statistics.median(load)
        target(f"dataset load, {size} transitions", f"< {LOAD_TARGET_S:g} s", f"{t:.2f} s",
               t < LOAD_TARGET_S if full else None)
        target(f"peak RSS, H2O on {size} data + {options.sim_buffer_size / 1e6:g}M sim buffer",
               f"<= {RSS_TARGET_GIB:g} GiB", f"{memory['peak_gib']:.2f} GiB",
               memory["peak_gib"] <= RSS_TARGET_GIB if full else None)

    raw["load_end"] = os.getloadavg()[0]
    say(f"\ntargets (load average at start {load_start:.2f}, at end {raw['load_end']:.2f})")
    say(tabulate(targets, ["measure", "target", "measured", "result"], tablefmt="simple"))
    raw["targets"] = targets
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(raw, indent=1))
    return raw


def _main(argv: list[str]) -> int:
    """The hidden entry points of the probe processes (`python -m gapbench.benchmark.perf.measure _worker ...`)."""
    if argv and argv[0] == "_worker":
        return _worker_main(*argv[1:])
    if argv and argv[0] == "_memory":
        return _memory_main(*argv[1:])
    print("usage: gapbench perf --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
