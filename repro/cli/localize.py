"""repro localize: the op at which two runs part ways (docs/localize.md)."""

from __future__ import annotations

from repro.cli._common import print_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "localize", help="name the first operation at which two runs part ways (replays both from a checkpoint)",
        description="Find the first step at which two runs' recorded states differ and the last checkpoint at which "
                    "they agree, replay that window of each run in a fresh process in its own conditions (mode, "
                    "threads, device, numerics environment) while hashing every dispatched op, and name the first "
                    "op whose inputs are bitwise equal and whose outputs are not, with every op that differs on "
                    "equal inputs. Status: identical, localised, or not localised (with why).")
    p.add_argument("run_a", metavar="RUN_A", help="a run directory")
    p.add_argument("run_b", metavar="RUN_B", help="another run directory of the same variant")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="keep the op records, replay summaries and localization.json here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-measure", action="store_true",
                   help="skip the second, targeted replays that measure the culprit's output difference")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro.localize.locate import localize

    result = localize(args.run_a, args.run_b, out=args.out, measure=not args.no_measure)
    if args.json:
        print_json(result.to_dict())
    else:
        print(render(result))
    return 0


def render(result) -> str:
    """The result as a terminal reads it."""
    lines = [f"{result.run_a} vs {result.run_b}: {result.status}"]
    if result.status == "identical":
        lines.append(f"  {result.reason}")
        return "\n".join(lines)
    start = "the initial state" if not result.checkpoint_step else f"checkpoint step {result.checkpoint_step}"
    lines.append(f"  first differing recorded step: {result.first_divergent_step} (replayed from {start})")
    c = result.culprit
    if c is not None:
        r = c.a
        lines += [f"  op:      {r.op}",
                  f"  module:  {r.module or '(no module)'}" + (f" (backward: {r.node})" if r.backward else ""),
                  f"  where:   step {r.step}, {r.phase}, call {r.index}",
                  "  shapes:  in " + ", ".join("x".join(map(str, s)) or "scalar" for s in r.input_shapes)
                  + "; out " + ", ".join("x".join(map(str, s)) or "scalar" for s in r.output_shapes),
                  f"  dtype:   {'/'.join(sorted(set(r.dtypes)))} on {r.device}"]
        if c.max_abs_diff is not None:
            lines.append(f"  differs: {c.elements_differing} of {c.elements} elements, max abs {c.max_abs_diff:.3g}, "
                         f"max rel {c.max_rel_diff:.3g}")
        elif c.diff_note:
            lines.append(f"  differs: {c.diff_note}")
    elif result.sequence_split is not None:
        s = result.sequence_split
        for side, r in (("a", s.a), ("b", s.b)):
            lines.append(f"  call {s.index} in {side}: " + (f"{r.op} in {r.module or '(no module)'} (step {r.step} "
                                                            f"{r.phase})" if r else "(no more ops)"))
    if result.reason:
        lines.append(f"  {result.reason}")
    for side in ("a", "b"):
        r = result.replays.get(side)
        if r:
            repro_text = {True: "reproduced its run's hash", False: "did NOT reproduce its run's hash",
                          None: "(no recorded hash to check)"}[r.get("reproduced")]
            lines.append(f"  replay {side}: {r['mode']}, {r['torch_threads']} thread(s), {r['device']}, "
                         f"host {r['host']} pid {r['pid']}, {r['ops']} ops, {repro_text}")
    table = result.nondeterministic_ops
    if table:
        lines.append(f"  ops that differ on equal inputs ({sum(t.count for t in table)} calls, {len(table)} places; "
                     f"{result.ops_compared} ops compared):")
        lines.append(f"    {'calls':>5}  {'op':<40} {'module':<32} first")
        for t in table:
            module = t.module + (" (bwd)" if t.backward else "")
            lines.append(f"    {t.count:>5}  {t.op:<40} {module:<32} step {t.first_step} {t.first_phase}")
    return "\n".join(lines)
