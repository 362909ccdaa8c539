"""Lineage impact queries on SQLite: the service's recursive SQL against an in-memory networkx graph.

Everything runs in a temporary home (deleted afterwards), initialised with examples/platform.yaml,
and every figure printed is measured in this one run:

  build      --edges typed edges written in bulk into the real `lineage_edges` table, BATCH rows
             per `platform.store.write()` transaction, modelled on what the services record:
               derived_from      version chains (dataset lines of 5-20 versions, with some forks)
               used              0-6 experiments per version
               triggered         alerts on some experiments and versions, rollback triggers
               waives            exceptions on some versions
               reviews           incident reviews of some alerts, rollbacks and versions
               supersedes        releases within a dataset line (--supersedes project: within
                                 the project, as `release_version` records them)
               rolled_back_from  occasional rollbacks (abandoned release -> rollback)
               restored_to       (restored release -> rollback)
             spread over the spec's three projects (50/30/20), lines growing interleaved in time.
  sql        `lineage.impact_rows(session, ref, depth)` for --samples start refs (dataset lines'
             roots, random versions, random experiments) at depth 3 and unbounded (and
             upstream, for reference); then `lineage.impact(platform, 'omar', ref, depth)` for the
             same refs, which adds the read session and the permission check (the sampled objects
             get real rows so `refs.project_of` resolves them). After a short warm-up every ref is
             timed in --repeat passes (default 3); percentiles are over the refs of each ref's
             median wall time, with the CPU time and the first-call wall time alongside (wall
             tails well above CPU time are the host's scheduling, not the query). The sizes of
             the reached sets are printed too.
  networkx   the same edge list read back from the database into a DiGraph (read and build
             timed), then `nx.descendants` (unbounded) and a depth-limited BFS
             (`single_source_shortest_path_length(cutoff=3)`) for the same start refs; every
             answer is checked against the SQL answer.

Goals (from the issue): impact_rows p95 <= 5 ms at depth 3 and <= 20 ms unbounded on SQLite.

    python bench/lineage_impact.py                  # full run: 1,000,000 edges
    python bench/lineage_impact.py --edges 200000
    python bench/lineage_impact.py --quick          # small smoke run (20,000 edges, seconds)
    python bench/lineage_impact.py --supersedes project --samples 50   # project-wide release chain
    python bench/lineage_impact.py --home /tmp/lineage-home            # keep the home to inspect

Needs networkx (a benchmark-only dependency). Exit status: 0 when the run completed and SQL and
networkx agreed on every sample (goals missed are reported, not failed), 2 on a disagreement.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import platform as host
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

try:
    import networkx as nx
except ImportError:  # pragma: no cover - a benchmark-only dependency
    sys.exit("bench/lineage_impact.py needs networkx: pip install networkx")

from sqlalchemy import insert, text  # noqa: E402

from dataops_platform.clock import FixedClock  # noqa: E402
from dataops_platform.governance import lineage  # noqa: E402
from dataops_platform.governance.bootstrap import initialize  # noqa: E402
from dataops_platform.governance.platform import Platform  # noqa: E402
from dataops_platform.governance.spec_apply import apply_spec  # noqa: E402
from dataops_platform.settings import load_settings  # noqa: E402
from dataops_platform.spec.loader import load_spec  # noqa: E402
from dataops_platform.store.models import DatasetVersion, Experiment, LineageEdge  # noqa: E402

EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"
ADMIN, READER = "alice", "omar"  # omar (ops) may read in all three projects
# (project, share of the dataset lines, its data engineer)
PROJECTS = (
    ("p01_retail_search", 0.5, "dan"),
    ("p02_legal_sft", 0.3, "lena"),
    ("p03_clinical_qa", 0.2, "hugo"),
)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GOAL_BOUNDED_MS = 5.0
GOAL_UNBOUNDED_MS = 20.0
DEPTH = 3
ACTIVE_LINES = 400  # dataset lines growing at the same time (interleaves ids and timestamps)
LINE_LENGTH = (5, 20)  # versions per dataset line
FORK_RATE = 0.15  # a new version derives from an earlier version of its line, not the newest
EXPERIMENTS_PER_VERSION = ((0, 10), (1, 20), (2, 25), (3, 20), (4, 12), (5, 8), (6, 5))  # (count, weight)
ALERT_PER_EXPERIMENT = 0.12
ALERT_PER_VERSION = 0.04
REVIEW_PER_ALERT = 0.25
EXCEPTION_PER_VERSION = 0.06
REVIEW_PER_VERSION = 0.01
RELEASE_RATE = 0.30
ROLLBACK_PER_RELEASE = 0.08
REVIEW_PER_ROLLBACK = 0.6


def say(line: str = "") -> None:
    print(line, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(q / 100 * len(ordered))) - 1)]


def summary_ms(timed: Timed) -> str:
    ms = [s * 1000 for s in timed.wall]
    return (
        f"p50 {pct(ms, 50):7.3f} ms   p95 {pct(ms, 95):7.3f} ms   max {pct(ms, 100):7.3f} ms   "
        f"(cpu p95 {pct(timed.cpu, 95) * 1000:.3f}, "
        f"first calls p95 {pct(timed.first, 95) * 1000:.3f})"
    )


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def sizes(values: list[int]) -> str:
    return (
        f"min {min(values):,}  p50 {pct(values, 50):,}  p95 {pct(values, 95):,}  max {max(values):,}  "
        f"mean {statistics.fmean(values):,.1f}"
    )


# -- the graph ---------------------------------------------------------------------------------
@dataclass
class Line:
    """One dataset line: a version chain with occasional forks, its releases and experiments."""

    project: str
    target: int
    versions: list[str] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


@dataclass
class Graph:
    """What the generator produced, kept for sampling start refs and seeding object rows."""

    roots: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    project_of: dict[str, str] = field(default_factory=dict)  # version/experiment ref -> project
    version_of: dict[str, str] = field(default_factory=dict)  # experiment ref -> its version ref
    by_type: dict[str, int] = field(default_factory=lambda: {t: 0 for t in lineage.EDGE_TYPES})


def generate(total: int, rng: random.Random, graph: Graph, supersedes: str = "line") -> Iterator[dict]:
    """Yield exactly `total` edge rows (dicts for an insert of LineageEdge), oldest first.

    Releases (and so supersedes edges and rollbacks) follow one dataset line with
    `supersedes="line"`; with `"project"` they follow the project's single current release, as
    `versions.release_version` records them, which links every line of a project into one chain.
    """
    counters: dict[str, int] = {}
    project_releases: dict[str, list[str]] = {p: [] for p, _, _ in PROJECTS}
    now = T0
    emitted = 0

    def next_ref(kind: str, prefix: str) -> str:
        counters[kind] = counters.get(kind, 0) + 1
        return f"{kind}:{prefix}{counters[kind]:03d}"  # like Operation.next_id (width 3, grows)

    def new_line() -> Line:
        project = rng.choices([p for p, _, _ in PROJECTS], weights=[w for _, w, _ in PROJECTS])[0]
        return Line(project, rng.randint(*LINE_LENGTH))

    counts, weights = zip(*EXPERIMENTS_PER_VERSION, strict=True)
    active = [new_line() for _ in range(ACTIVE_LINES)]
    while True:
        i = rng.randrange(len(active))
        line = active[i]
        now += timedelta(seconds=rng.randint(1, 120))
        project = line.project
        edges: list[tuple[str, str, str]] = []
        version = next_ref("version", "ds_v")
        graph.versions.append(version)
        graph.project_of[version] = project
        if line.versions:
            parent = rng.choice(line.versions) if rng.random() < FORK_RATE else line.versions[-1]
            edges.append((parent, version, "derived_from"))
        else:
            graph.roots.append(version)
        line.versions.append(version)
        for _ in range(rng.choices(counts, weights=weights)[0]):
            exp = next_ref("experiment", "exp_")
            graph.experiments.append(exp)
            graph.project_of[exp], graph.version_of[exp] = project, version
            edges.append((version, exp, "used"))
            if rng.random() < ALERT_PER_EXPERIMENT:
                alert = next_ref("alert", "alert_")
                line.alerts.append(alert)
                edges.append((exp, alert, "triggered"))
                if rng.random() < REVIEW_PER_ALERT:
                    edges.append((alert, next_ref("review", "ir_"), "reviews"))
        if rng.random() < ALERT_PER_VERSION:
            alert = next_ref("alert", "alert_")
            line.alerts.append(alert)
            edges.append((version, alert, "triggered"))
        if rng.random() < EXCEPTION_PER_VERSION:
            edges.append((version, next_ref("exception", "exc_"), "waives"))
        if rng.random() < REVIEW_PER_VERSION:
            edges.append((version, next_ref("review", "ir_"), "reviews"))
        if rng.random() < RELEASE_RATE:
            releases = line.releases if supersedes == "line" else project_releases[project]
            if releases:
                edges.append((releases[-1], version, "supersedes"))
            releases.append(version)
            if len(releases) >= 2 and rng.random() < ROLLBACK_PER_RELEASE:
                abandoned, restored = releases.pop(), releases[-1]
                rb = next_ref("rollback", "rb_")
                edges.append((abandoned, rb, "rolled_back_from"))
                edges.append((restored, rb, "restored_to"))
                if line.alerts and rng.random() < 0.5:
                    edges.append((line.alerts[-1], rb, "triggered"))
                if rng.random() < REVIEW_PER_ROLLBACK:
                    edges.append((rb, next_ref("review", "ir_"), "reviews"))
        for source, target, edge_type in edges:
            graph.by_type[edge_type] += 1
            yield {"project_id": project, "source_ref": source, "target_ref": target, "edge_type": edge_type, "created_at": now}
            emitted += 1
            if emitted >= total:
                return
        if len(line.versions) >= line.target:
            active[i] = new_line()


def build(platform: Platform, total: int, batch: int, rng: random.Random, supersedes: str) -> tuple[Graph, float]:
    """Insert `total` edges, `batch` rows per write transaction; returns the graph and rows/s."""
    graph = Graph()
    rows = generate(total, rng, graph, supersedes)
    done, timed, wall0, next_report = 0, 0.0, time.perf_counter(), max(batch, total // 10)
    stmt = insert(LineageEdge)
    while done < total:
        chunk = [row for _, row in zip(range(batch), rows, strict=False)]
        if not chunk:
            break
        t = time.perf_counter()
        with platform.store.write() as session:
            session.execute(stmt, chunk)
        timed += time.perf_counter() - t
        done += len(chunk)
        if done >= next_report or done >= total:
            say(f"    {done:>10,} / {total:,} edges   {done / timed:>9,.0f} rows/s   {time.perf_counter() - wall0:6.1f} s")
            next_report += max(batch, total // 10)
    return graph, done / timed


def seed_objects(platform: Platform, graph: Graph, starts: list[str]) -> None:
    """Real version/experiment rows for the sampled start refs (and their experiments' versions),
    so that `lineage.impact` can resolve each start's project for the permission check."""
    experiments = [r for r in starts if r.startswith("experiment:")]
    versions = {r for r in starts if r.startswith("version:")} | {graph.version_of[e] for e in experiments}
    now = T0
    owner = {p: o for p, _, o in PROJECTS}
    with platform.store.write() as session:
        session.execute(
            insert(DatasetVersion),
            [
                {
                    "version_id": v.partition(":")[2],
                    "project_id": graph.project_of[v],
                    "parent_version": None,
                    "status": "validated",
                    "change_summary": [],
                    "data_location": "bench://synthetic",
                    "source_format": "jsonl",
                    "content_digest": "0" * 64,
                    "row_count": 100,
                    "schema_fields": [],
                    "quality_signals": {},
                    "quality_failures": [],
                    "rollback_candidate": False,
                    "created_by": owner[graph.project_of[v]],
                    "created_at": now,
                }
                for v in sorted(versions)
            ],
        )
        if experiments:
            session.execute(
                insert(Experiment),
                [
                    {
                        "experiment_id": e.partition(":")[2],
                        "project_id": graph.project_of[e],
                        "dataset_version": graph.version_of[e].partition(":")[2],
                        "mlflow_run_id": None,
                        "params": {},
                        "status": "completed",
                        "metric_summary": {},
                        "baseline_ref": None,
                        "deltas": {},
                        "requires_review": False,
                        "alert_ids": [],
                        "error": None,
                        "recorded_by": "dataops-system",
                        "recorded_at": now,
                    }
                    for e in experiments
                ],
            )


def sample_starts(graph: Graph, n: int, rng: random.Random) -> list[str]:
    """A fifth dataset lines' roots (largest impact sets), two fifths other versions, the rest experiments."""
    n_roots, n_versions = n // 5, (2 * n) // 5
    roots = rng.sample(graph.roots, min(n_roots, len(graph.roots)))
    taken = set(roots)
    pool = [v for v in rng.sample(graph.versions, min(len(graph.versions), 4 * n)) if v not in taken]
    versions = pool[:n_versions]
    experiments = rng.sample(graph.experiments, min(n - len(roots) - len(versions), len(graph.experiments)))
    starts = roots + versions + experiments
    rng.shuffle(starts)
    return starts


# -- timing ------------------------------------------------------------------------------------
@dataclass
class Timed:
    """Per start ref: the wall time of its first call, the median wall time over the repeated
    passes, and the median CPU time of this thread during a call. A wall time well above the CPU
    time means the call waited: descheduled on a busy host (whole scheduler ticks) or blocked on
    I/O; the median over passes spaced apart in time filters out such one-off waits."""

    first: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def time_calls(starts: list[str], call: Callable[[str], object], repeat: int) -> tuple[Timed, dict[str, object]]:
    """Call once per start ref per pass, `repeat` passes over all refs (so a ref's calls are spread
    out in time); the answers of the first pass are returned for checking."""
    walls: dict[str, list[float]] = {s: [] for s in starts}
    cpus: dict[str, list[float]] = {s: [] for s in starts}
    answers: dict[str, object] = {}
    gc.collect()
    gc.disable()
    try:
        for n in range(repeat):
            for start in starts:
                c, t = time.thread_time(), time.perf_counter()
                answer = call(start)
                walls[start].append(time.perf_counter() - t)
                cpus[start].append(time.thread_time() - c)
                if n == 0:
                    answers[start] = answer
    finally:
        gc.enable()
    timed = Timed(
        [walls[s][0] for s in starts], [statistics.median(walls[s]) for s in starts], [statistics.median(cpus[s]) for s in starts]
    )
    return timed, answers


def bfs_depths(g: nx.DiGraph, start: str, cutoff: int | None) -> dict[str, int]:
    """BFS: shortest distance of every node within `cutoff` hops (all, when None) below `start`."""
    reached = nx.single_source_shortest_path_length(g, start, cutoff=cutoff)
    reached.pop(start, None)
    return reached


def explain(db: Path, start: str) -> list[str]:
    """EXPLAIN QUERY PLAN of both impact queries, exactly as the service sends them (downstream)."""
    conn = sqlite3.connect(db)
    try:
        out = []
        queries = ((f"depth {DEPTH}", lineage._BOUNDED_SQL), ("unbounded", lineage._UNBOUNDED_SQL))
        for label, template in queries:
            sql = template.format(this="source_ref", next="target_ref")
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, {"start": start, "max_depth": DEPTH}).fetchall()
            parents = {r[0]: r[1] for r in rows}
            out.append(f"plan, {label}:")
            for r in rows:
                level, p = 0, r[1]
                while p in parents:
                    level, p = level + 1, parents[p]
                out.append(f"    {'  ' * level}{r[3]}")
        return out
    finally:
        conn.close()


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--edges", type=int, default=None, help="lineage edges to build (default 1,000,000)")
    add("--quick", action="store_true", help="smoke run with 20,000 edges: figures indicative only")
    add("--samples", type=int, default=200, help="start refs to query (default 200)")
    add("--batch", type=int, default=50_000, help="edges per write transaction (default 50,000)")
    add("--repeat", type=int, default=3, help="passes over the start refs; a ref's median counts (default 3)")
    add("--seed", type=int, default=8, help="random seed for the graph and the samples (default 8)")
    add(
        "--supersedes",
        choices=("line", "project"),
        default="line",
        help="releases chain within a dataset line (default) or across the whole project, as the "
        "release service records them (one chain per project: large unbounded impact sets)",
    )
    add("--home", type=Path, default=None, help="build in this new home and keep it (default: temporary)")
    args = parser.parse_args(argv)
    total = args.edges or (20_000 if args.quick else 1_000_000)
    rng = random.Random(args.seed)
    quick_note = "  [quick run: indicative only]" if args.quick else ""

    say(
        f"lineage impact benchmark -- Python {host.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"networkx {nx.__version__}, {host.machine()}; releases chained per {args.supersedes}"
        f"{quick_note}"
    )
    say(f"host: {os.cpu_count()} CPUs, load average {load()} (other work on the host inflates wall tails)")
    with contextlib.ExitStack() as stack:
        if args.home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dataops-bench-"))) / "home"
        elif args.home.exists() and any(args.home.iterdir()):
            parser.error(f"--home {args.home} is not empty")
        else:
            home = args.home
        settings = load_settings(home)
        platform = Platform(settings, FixedClock(T0))
        stack.callback(platform.close)
        db = settings.home_dir / "governance.db"
        t = time.perf_counter()
        initialize(platform, ADMIN)
        apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
        say(f"home {home} (SQLite); init + spec apply: {time.perf_counter() - t:.2f} s")
        say()

        say(f"[1/4] build: {total:,} edges into lineage_edges, {args.batch:,} per platform.store.write()")
        t = time.perf_counter()
        graph, insert_rate = build(platform, total, args.batch, rng, args.supersedes)
        wall = time.perf_counter() - t
        say(f"      {insert_rate:,.0f} rows/s inserting ({wall:.1f} s wall, generation included)")
        say(
            f"      {len(graph.versions):,} versions in {len(graph.roots):,} dataset lines, "
            f"{len(graph.experiments):,} experiments"
        )
        say("      by type: " + ", ".join(f"{k} {v:,}" for k, v in graph.by_type.items()))
        with platform.store.read() as session:
            per_project = session.execute(
                text("SELECT project_id, COUNT(*) FROM lineage_edges GROUP BY project_id ORDER BY 1")
            ).all()
        stored = sum(n for _, n in per_project)
        say("      by project: " + ", ".join(f"{p} {n:,}" for p, n in per_project))
        wal = Path(f"{db}-wal")
        say(
            f"      database {db.stat().st_size / 2**20:,.0f} MiB "
            f"(+ WAL {wal.stat().st_size / 2**20 if wal.exists() else 0:,.0f} MiB)"
        )

        starts = sample_starts(graph, args.samples, rng)

        def timed(call: Callable[[str], object]) -> tuple[Timed, dict[str, object]]:
            return time_calls(starts, call, args.repeat)

        seed_objects(platform, graph, starts)
        roots = set(graph.roots)
        groups = {
            "line roots": [s for s in starts if s in roots],
            "other versions": [s for s in starts if s.startswith("version:") and s not in roots],
            "experiments": [s for s in starts if s.startswith("experiment:")],
        }
        say()
        say(
            f"[2/4] sql: lineage.impact_rows for {len(starts)} start refs ("
            + ", ".join(f"{len(v)} {k}" for k, v in groups.items())
            + f"), {args.repeat} passes; "
            "per ref the median wall time of its calls"
        )
        for line in explain(db, starts[0]):
            say(f"      {line}")
        with platform.store.read() as session:
            for s in starts[:5]:  # warm the connection and the statement cache
                lineage.impact_rows(session, s, DEPTH)
                lineage.impact_rows(session, s)
            bounded_s, bounded = timed(lambda s: lineage.impact_rows(session, s, DEPTH))
            unbounded_s, unbounded = timed(lambda s: lineage.impact_rows(session, s))
            upstream_s, upstream = timed(lambda s: lineage.impact_rows(session, s, None, True))
        say(f"      impact_rows depth {DEPTH}            {summary_ms(bounded_s)}")
        say(f"      impact_rows unbounded          {summary_ms(unbounded_s)}")
        say(f"      impact_rows upstream unbounded {summary_ms(upstream_s)}   for reference")
        checked_b, _ = timed(lambda s: lineage.impact(platform, READER, s, DEPTH))
        checked_u, checked = timed(lambda s: lineage.impact(platform, READER, s))
        say(f"      impact({READER!r}) depth {DEPTH}         {summary_ms(checked_b)}   + permission check")
        say(f"      impact({READER!r}) unbounded       {summary_ms(checked_u)}")
        # impact() also gives each object's shortest distance when unbounded (checked against networkx below).
        same_checked = all({r.ref for r in checked[s]} == {r.ref for r in unbounded[s]} for s in starts)

        say(f"      reached, depth {DEPTH}:          {sizes([len(bounded[s]) for s in starts])}")
        say(f"      reached, unbounded:        {sizes([len(unbounded[s]) for s in starts])}")
        for label, group in groups.items():
            if group:
                say(f"        {label:<15} unbounded {sizes([len(unbounded[s]) for s in group])}")
        say(f"      reached, upstream unbounded: {sizes([len(upstream[s]) for s in starts])}")

        say()
        say("[3/4] networkx: the same edge list read back from the database")
        gc.collect()
        t = time.perf_counter()
        conn = sqlite3.connect(db)
        # The same edges impact follows: `supersedes` is release history, not a dependency.
        edge_list = conn.execute("SELECT source_ref, target_ref FROM lineage_edges WHERE edge_type <> 'supersedes'").fetchall()
        conn.close()
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        g = nx.DiGraph()
        g.add_edges_from(edge_list)
        nx_build_s = time.perf_counter() - t
        del edge_list
        say(
            f"      read {stored:,} edges: {read_s:.2f} s; DiGraph build: {nx_build_s:.2f} s "
            f"({g.number_of_nodes():,} nodes, {g.number_of_edges():,} distinct source->target pairs)"
        )
        nx_b_s, nx_b = timed(lambda s: bfs_depths(g, s, DEPTH))
        nx_u_s, nx_u = timed(lambda s: nx.descendants(g, s))
        say(f"      BFS depth {DEPTH}           {summary_ms(nx_b_s)}")
        say(f"      nx.descendants        {summary_ms(nx_u_s)}")
        agree = all(
            {r.ref: r.depth for r in bounded[s]} == nx_b[s]
            and {r.ref for r in unbounded[s]} == nx_u[s]
            and {r.ref for r in upstream[s]} == nx.ancestors(g, s)
            and {r.ref: r.depth for r in checked[s]} == bfs_depths(g, s, None)
            for s in starts
        )
        say(f"      same sets and shortest depths as the SQL answers: {'yes' if agree else 'NO'}")
        say(f"      impact() answers equal to impact_rows answers: {'yes' if same_checked else 'NO'}")
        if args.home is not None:
            say(f"      home kept at {home}")

    p95_b, p95_u = pct(bounded_s.wall, 95) * 1000, pct(unbounded_s.wall, 95) * 1000
    first_b, first_u = pct(bounded_s.first, 95) * 1000, pct(unbounded_s.first, 95) * 1000
    met_b, met_u = p95_b <= GOAL_BOUNDED_MS, p95_u <= GOAL_UNBOUNDED_MS
    say()
    say(f"[4/4] summary ({stored:,} edges, {len(starts)} start refs)")
    say(f"  sql impact_rows depth {DEPTH}       {summary_ms(bounded_s)}")
    say(f"  sql impact_rows unbounded     {summary_ms(unbounded_s)}")
    say(f"  sql impact(omar) depth {DEPTH}      {summary_ms(checked_b)}")
    say(f"  sql impact(omar) unbounded    {summary_ms(checked_u)}")
    say(f"  networkx build                {nx_build_s:7.2f} s   (+ {read_s:.2f} s reading the edges)")
    say(f"  networkx BFS depth {DEPTH}          {summary_ms(nx_b_s)}")
    say(f"  networkx descendants          {summary_ms(nx_u_s)}")
    say(f"  host load average at the end  {load()}")
    say("goals")
    say(
        f"  impact_rows depth {DEPTH} p95 <= {GOAL_BOUNDED_MS:g} ms: {'MET' if met_b else 'NOT MET'} "
        f"({p95_b:.3f} ms; first calls only: {first_b:.3f} ms){quick_note}"
    )
    say(
        f"  impact_rows unbounded p95 <= {GOAL_UNBOUNDED_MS:g} ms: {'MET' if met_u else 'NOT MET'} "
        f"({p95_u:.3f} ms; first calls only: {first_u:.3f} ms){quick_note}"
    )
    say(f"  SQL, impact() and networkx agree on every sample: {'yes' if agree and same_checked else 'NO'}")
    return 0 if agree and same_checked else 2


if __name__ == "__main__":
    sys.exit(main())
