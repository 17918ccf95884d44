"""Pool variants: would a differently built pool give a better batch than the campaign's own?

For chosen rounds k of a finished campaign, rebuilds the state after round k-1 in a scratch copy
(as `pool_headroom.py` does), draws round k's pool exactly as the campaign drew it, and builds
variants of that pool:

- `base`: the campaign's pool (valid, new, once).
- `crossover_fill`: crossovers of the same parents added until the pool holds
  `pool_factor * batch_size * graph_crossover` new ones (late in a campaign most crossovers of
  the 20 parents repeat a design already measured or drawn, so the crossover share shrinks).
- `parents_50`: the pool drawn with the 50 best measured designs as parents, not 20.
- `ga_children`: the campaign's crossovers replaced by as many children of the same parents made
  with the Graph GA's operators (`molseiko.domains.graph_ga`: ring and acyclic crossover, then
  mutation with probability `--mutation-rate`): do the GA's operators make a better pool?
- `evolve_G`: G generations of evolution in silico with the reward ensemble standing in for the
  oracle: each generation's parents are the 20 best candidates so far by the acquisition and
  the 20 best measured designs; their crossovers and edits (as many as the round's pool makes)
  join the candidates. Each generation trusts the model one step further from its data.

From each variant it picks a batch by greedy (r_hat) and ucb (r_hat + s_hat) and measures only
the picks. The score of a pick is the top-10 mean of everything measured after adding it (what
PMO's AUC integrates); `predicted_mean` beside `batch_mean` shows how far the model
overrates what it picked. Only for cheap oracles. Writes `pool_variants.csv` and
`pool_variants.png` into --out.

    python benchmarks/pool_variants.py --rounds 2 4 6 \
        "benchmarks/results/runs/osimertinib_mpo-ucb+first_batch=zinc250k-1"
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from pool_headroom import candidates_of, probe_rounds, rewind

from molseiko.domains.graph_ga import MUTATION_RATE, ga_children

ROOT = Path(__file__).resolve().parents[1]
ELITE = 20


class Memo:
    """The ensemble's prediction and the oracle's value of each design, computed once."""

    def __init__(self, campaign):
        self.campaign, self.predicted, self.measured = campaign, {}, {}

    def predict(self, keys: list[str]) -> SimpleNamespace:
        new = [key for key in dict.fromkeys(keys) if key not in self.predicted]
        if new:
            prediction = self.campaign.ensemble.predict(new)
            self.predicted.update(
                zip(new, zip(prediction.mean, prediction.std, strict=True), strict=True)
            )
        mean, std = np.array([self.predicted[key] for key in keys]).reshape(-1, 2).T
        return SimpleNamespace(mean=mean, std=std)

    def truth(self, keys: list[str]) -> np.ndarray:
        new = [key for key in dict.fromkeys(keys) if key not in self.measured]
        if new:
            values = self.campaign.oracle(new).values
            self.measured.update(zip(new, np.asarray(values, float), strict=True))
        return np.array([self.measured[key] for key in keys])


def fill_crossovers(campaign, round_, keys, sources, parents) -> list[str]:
    """`keys` with new crossovers of `parents` until the pool's crossover share is met."""
    config = campaign.config
    wanted = campaign._shares(config.batch_size * config.pool_factor, parents)[1]
    rng = np.random.default_rng([config.seed, round_, 7])
    children = campaign.domain.crossover(parents, 10 * wanted, rng)
    new = candidates_of(campaign, [(child, "crossover") for child in children], keys)[0]
    return keys + new[: max(wanted - sources.count("crossover"), 0)]


def with_ga_children(campaign, round_, keys, sources, parents, mutation_rate) -> list[str]:
    """`keys` with its crossovers replaced by as many new children of `parents` made by the Graph
    GA's crossover and mutation (`crossover_operators = "graph_ga"`)."""
    rng = np.random.default_rng([campaign.config.seed, round_, 11])
    wanted = sources.count("crossover")
    kept = [key for key, source in zip(keys, sources, strict=True) if source != "crossover"]
    children: list[str] = []
    for _ in range(10):  # late in a campaign most children repeat a known design: draw again
        drawn = ga_children(parents, 2 * wanted, rng, mutation_rate)
        children += candidates_of(campaign, [(c, "ga") for c in drawn], kept + children)[0]
        if len(children) >= wanted:
            break
    return kept + children[:wanted]


def evolve(campaign, memo, round_, keys, parents, generations, score, generator) -> list[str]:
    """`keys` with `generations` generations of in-silico evolution on `score` (an
    acquisition of the ensemble's prediction) appended."""
    config = campaign.config
    edits, crosses = campaign._shares(config.batch_size * config.pool_factor, parents)
    for generation in range(generations):
        values = np.nan_to_num(score(memo.predict(keys)), nan=-np.inf)
        elite = [keys[i] for i in np.argsort(-values)[:ELITE]]
        breeders = list(dict.fromkeys(elite + parents))
        rng = np.random.default_rng([config.seed, round_, 3, generation])
        children = campaign.domain.crossover(breeders, crosses, rng) if crosses else []
        if edits:
            children += campaign.policy.infill(
                breeders,
                edits,
                config.infill_mask,
                config.denoising_steps,
                generator,
                template=campaign.template,
                crossover=max(config.infill_crossover, 0.0),
            )
        new = candidates_of(campaign, [(child, "evolved") for child in children], keys)[0]
        if not new:
            break
        keys = keys + new
    return keys


def compare(
    run: Path,
    round_: int,
    scratch: Path,
    generations: list[int],
    variants: list[str],
    mutation_rate: float,
) -> list[dict]:
    from molseiko.engine.build import build_campaign
    from molseiko.engine.config import CampaignConfig
    from molseiko.engine.report import top_k_mean

    copy = rewind(run, round_, scratch)
    config = CampaignConfig.from_saved(copy / "config.toml", out=str(copy))
    rows = []
    with build_campaign(config, copy) as campaign:
        size = min(config.batch_size, config.budget - campaign.ledger.count_measured())
        measured = [value for _, value, _ in campaign.ledger.measurements()]
        base = {"run": run.name, "round": round_, "before": top_k_mean(measured, 10)}

        def drawn_with(parents: int):
            campaign.config = replace(config, infill_parents=parents)
            chosen = campaign._parents()
            pool = campaign.draw_pool(
                round_, size * config.pool_factor, chosen, 0, campaign._generator(round_)
            )
            campaign.config = config
            return chosen, pool

        parents, drawn = drawn_with(config.infill_parents)
        keys, sources = candidates_of(campaign, drawn)
        memo = Memo(campaign)
        picks = {"greedy": lambda p: p.mean, "ucb": lambda p: p.mean + p.std}
        # (variant, pool, the picks made from it): an evolved pool is picked by the score it
        # evolved on.
        builders = {
            "crossover_fill": lambda: fill_crossovers(campaign, round_, keys, sources, parents),
            "parents_50": lambda: candidates_of(campaign, drawn_with(50)[1])[0],
            "ga_children": lambda: with_ga_children(
                campaign, round_, keys, sources, parents, mutation_rate
            ),
        }
        pools = [("base", keys, picks)]
        pools += [(name, build(), picks) for name, build in builders.items() if name in variants]
        for count in generations if "evolve" in variants else []:
            for name, score in picks.items():
                pool = evolve(
                    campaign, memo, round_, keys, parents, count, score, campaign._generator(round_)
                )
                pools.append((f"evolve_{count}", pool, {name: score}))
        base_keys = set(keys)
        for variant, pool, scores in pools:
            prediction = memo.predict(pool)
            for name, score in scores.items():
                index = np.argsort(-np.nan_to_num(score(prediction), nan=-np.inf), kind="stable")
                index = index[:size]
                truth = memo.truth([pool[i] for i in index])
                rows.append(
                    {
                        **base,
                        "variant": variant,
                        "pick": name,
                        "candidates": len(pool),
                        "from_base": int(sum(pool[i] in base_keys for i in index)),
                        "top10_after": top_k_mean(measured + list(truth), 10),
                        "batch_mean": float(np.nanmean(truth)),
                        "predicted_mean": float(np.mean(prediction.mean[index])),
                    }
                )
    shutil.rmtree(copy)
    return rows


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = frame.assign(task=frame.run.str.split("-").str[0])
    tasks = list(dict.fromkeys(frame.task))
    colors = {variant: f"C{i}" for i, variant in enumerate(dict.fromkeys(frame.variant))}
    fig, axes = plt.subplots(
        len(tasks), 2, figsize=(10, 3.8 * len(tasks)), sharey="row", squeeze=False
    )
    for row, task in zip(axes, tasks, strict=True):
        for axis, pick in zip(row, ("greedy", "ucb"), strict=True):
            part = frame[(frame.pick == pick) & (frame.task == task)]
            base = part[part.variant == "base"].set_index(["run", "round"]).top10_after
            for variant, group in part.groupby("variant", sort=False):
                gain = group.set_index(["run", "round"]).top10_after - base
                mean = gain.groupby(level="round").mean()
                axis.plot(mean.index, mean.values, marker="o", label=variant, color=colors[variant])
            axis.axhline(0.0, color="grey", linewidth=0.8)
            axis.set_title(f"{task}: picked by {pick} (mean over runs)", fontsize=10)
            axis.set_xlabel("round")
        row[0].set_ylabel("top-10 after the batch - base")
        row[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished campaign run directories")
    parser.add_argument("--rounds", nargs="+", type=int, default=[2, 4, 6])
    parser.add_argument("--generations", nargs="+", type=int, default=[2])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["crossover_fill", "parents_50", "ga_children", "evolve"],
        help="pools to compare with the campaign's own (evolve: one per --generations)",
    )
    parser.add_argument(
        "--mutation-rate", type=float, default=MUTATION_RATE, help="for ga_children"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    def probe(run: Path, round_: int, scratch: Path) -> list[dict]:
        return compare(run, round_, scratch, args.generations, args.variants, args.mutation_rate)

    rows = probe_rounds(args.runs, args.rounds, args.out / "pool_variants.csv", probe)
    plot(pd.DataFrame(rows), args.out / "pool_variants.png")


if __name__ == "__main__":
    main()
