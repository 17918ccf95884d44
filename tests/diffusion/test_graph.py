"""Graph diffusion: the atom-and-bond vocabulary, exact path probabilities and KLs on an
enumerable toy space, valence-aware sampling, training and checkpoints."""

import copy
import itertools
from collections import Counter

import pytest
import torch

from molseiko.diffusion.checkpoint import checkpoint_domain, load_model, save_model
from molseiko.diffusion.graph import (
    GraphDenoiserConfig,
    GraphDiffusion,
    GraphTrajectory,
    bond_limits,
    components,
    last_exits,
    num_rounds,
    round_robin,
)
from molseiko.diffusion.graph_vocab import (
    EDGE_MASK,
    AtomBondVocabulary,
    EncodedGraph,
    max_valence,
)
from molseiko.diffusion.training import Pretrainer, TrainConfig
from molseiko.engine.finetune import FinetuneConfig, PolicyGradientFinetuner
from tests.conftest import SMILES

MAX_ATOMS = 3


def toy_model(types=("C", "O"), max_atoms=MAX_ATOMS, seed=0, schedule="random") -> GraphDiffusion:
    torch.manual_seed(seed)
    config = GraphDenoiserConfig(
        d_node=16,
        d_edge=8,
        n_layers=1,
        n_heads=2,
        d_ff=32,
        max_atoms=max_atoms,
        bond_schedule=schedule,
    )
    model = GraphDiffusion(AtomBondVocabulary(types), config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)
    return model.eval()


def all_graph_paths(
    num_types: int, max_atoms: int = MAX_ATOMS, robin: bool = False
) -> GraphTrajectory:
    """Every path of a 2-step model (one atom step revealing every atom, then one bond step
    revealing every pair, or with `robin` the round-robin rounds): one path per graph, so paths
    and designs correspond one to one."""
    atoms_rows, edge_rows, sizes = [], [], []
    for size in range(1, max_atoms + 1):
        pairs = [(i, j) for i in range(size) for j in range(i + 1, size)]
        for atoms in itertools.product(range(num_types), repeat=size):
            for bonds in itertools.product(range(4), repeat=len(pairs)):
                edges = torch.zeros(max_atoms, max_atoms, dtype=torch.long)
                for (i, j), order in zip(pairs, bonds, strict=True):
                    edges[i, j] = edges[j, i] = order
                atoms_rows.append(list(atoms) + [0] * (max_atoms - size))
                edge_rows.append(edges)
                sizes.append(size)
    atoms = torch.tensor(atoms_rows)
    edges = torch.stack(edge_rows)
    sizes = torch.tensor(sizes)
    real = torch.arange(max_atoms)[None] < sizes[:, None]
    off_diagonal = ~torch.eye(max_atoms, dtype=torch.bool)
    pair_real = real[:, :, None] & real[:, None, :] & off_diagonal
    if not robin:
        return GraphTrajectory(atoms, edges, sizes, real.long(), 2 * pair_real.long(), 2, 1)
    reveal = torch.zeros_like(edges)
    for row, size in enumerate(sizes.tolist()):
        reveal[row, :size, :size] = 1 + round_robin(size)
    steps = 1 + num_rounds(max_atoms)
    return GraphTrajectory(atoms, edges, sizes, real.long(), reveal, steps, 1, True)


def graph_key(trajectory: GraphTrajectory, row: int) -> tuple:
    size = int(trajectory.sizes[row])
    atoms = tuple(trajectory.atoms[row, :size].tolist())
    bonds = tuple(trajectory.edges[row, :size, :size].triu(1).flatten().tolist())
    return size, atoms, bonds


def marginal(model, paths) -> dict[tuple, float]:
    with torch.no_grad():
        probs = torch.exp(model.log_probs(paths).sum(-1))
    return {graph_key(paths, row): probs[row].item() for row in range(len(paths))}


# ---- vocabulary --------------------------------------------------------------------------------
def test_max_valences_follow_rdkit_rules():
    assert [max_valence(t) for t in ("C", "N", "O", "F", "N+", "O-", "Cl")] == [4, 3, 2, 1, 4, 1, 1]


@pytest.mark.parametrize(
    "smiles",
    ["c1ccccc1O", "CC(=O)[O-]", "C[N+](=O)[O-]", "C#N", "c1cc[nH]c1", "CS(=O)(=O)N", "C[NH3+]"],
)
def test_encode_decode_round_trip(smiles):
    vocabulary = AtomBondVocabulary(["C", "N", "O", "S", "N+", "O-"])
    graph = vocabulary.encode(smiles)
    assert graph is not None
    assert all(order in (1, 2, 3) for _, _, order in graph.bonds)  # kekulized: no aromatic bonds
    from rdkit import Chem

    assert vocabulary.to_design(graph) == Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_unknown_atom_types_and_broken_graphs_are_flagged_not_repaired():
    vocabulary = AtomBondVocabulary(["C", "O"])
    assert vocabulary.encode("CCCl") is None  # Cl is not in the vocabulary
    assert vocabulary.encode("not a molecule") is None
    assert vocabulary.encode("CCCCC", max_atoms=4) is None
    two_fragments = EncodedGraph([0, 0, 1], [(0, 1, 1)])
    over_valence = EncodedGraph([1, 0, 0], [(0, 1, 2), (0, 2, 1)])  # O with valence 3
    assert vocabulary.to_design(two_fragments) is None
    assert vocabulary.to_design(over_valence) is None
    assert vocabulary.to_design(EncodedGraph([0, 1], [(0, 1, 2)])) == "C=O"


def test_pad_builds_symmetric_dense_batches():
    vocabulary = AtomBondVocabulary(["C", "O"])
    graphs = [vocabulary.encode("C=O"), vocabulary.encode("CCO")]
    atoms, edges, sizes = vocabulary.pad(graphs)
    assert sizes.tolist() == [2, 3]
    assert atoms.shape == (2, 3) and edges.shape == (2, 3, 3)
    assert torch.equal(edges, edges.transpose(1, 2))
    assert edges[0].sum().item() == 2 * 2  # one double bond, stored both ways


# ---- exact path probabilities and KLs --------------------------------------------------------
def test_path_probabilities_sum_to_one_and_over_valence_graphs_have_none():
    model = toy_model()
    paths = all_graph_paths(2)
    with torch.no_grad():
        log_probs = model.log_probs(paths)
    assert log_probs.shape == (len(paths), 3)
    probs = torch.exp(log_probs.sum(-1))
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    valences = model.valences
    used = paths.edges.sum(-1)  # bond orders per atom (padding atoms have none)
    over = (used > valences[paths.atoms]).any(-1)
    assert over.any()
    assert probs[over].max().item() == 0.0
    model.valence_mask = False
    with torch.no_grad():
        unmasked = torch.exp(model.log_probs(paths).sum(-1))
    assert unmasked.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert unmasked[over].sum().item() > 1e-3


@pytest.mark.parametrize("schedule", ["random", "round_robin"])
def test_sampler_matches_scored_path_distribution(schedule):
    """Sampler and scorer are separate code; their graph frequencies must agree."""
    model = toy_model(schedule=schedule)
    paths = all_graph_paths(2, robin=schedule == "round_robin")
    exact = marginal(model, paths)
    assert sum(exact.values()) == pytest.approx(1.0, abs=1e-5)
    n = 20_000
    sampled = model.sample(n, steps=2, generator=torch.Generator().manual_seed(0))
    counts = Counter(graph_key(sampled, row) for row in range(n))
    assert set(counts) <= {k for k, p in exact.items() if p > 0}
    tv = 0.5 * sum(abs(counts.get(k, 0) / n - p) for k, p in exact.items())
    assert tv < 0.05


def test_sampled_paths_are_consistent_and_step_subsets_match():
    model = toy_model(types=("C", "N", "O"), max_atoms=6)
    trajectory = model.sample(40, steps=8, generator=torch.Generator().manual_seed(1))
    assert trajectory.atom_steps == 2
    real = ~trajectory.padding
    assert ((trajectory.atom_reveal >= 1) & (trajectory.atom_reveal <= 2))[real].all()
    pairs = trajectory.pairs
    assert ((trajectory.edge_reveal >= 3) & (trajectory.edge_reveal <= 8))[pairs].all()
    assert torch.equal(trajectory.edges, trajectory.edges.transpose(1, 2))
    with torch.no_grad():
        full = model.log_probs(trajectory)
        subset = model.log_probs(trajectory, steps=[0, 2, 5])
    assert torch.isfinite(full).all()
    assert torch.allclose(full[:, [0, 2, 5]], subset, atol=1e-5)


def test_kl_to_itself_is_zero_and_matches_brute_force():
    model, other = toy_model(seed=0), toy_model(seed=1)
    paths = all_graph_paths(2)
    with torch.no_grad():
        assert model.kl(paths, model).abs().max().item() < 1e-6
        kl = model.kl(paths, other)
        p_steps, q_steps = model.log_probs(paths), other.log_probs(paths)
    # Step 2 (bonds) for one 3-atom C-O-C state: enumerate every bond assignment from it.
    atoms = (0, 1, 0)
    rows = [r for r in range(len(paths)) if graph_key(paths, r)[:2] == (3, atoms)]
    log_p, log_q = p_steps[rows, 2], q_steps[rows, 2]
    finite = torch.isfinite(log_p)
    brute = (log_p[finite].exp() * (log_p[finite] - log_q[finite])).sum().item()
    assert kl[rows[0], 2].item() == pytest.approx(brute, rel=1e-4, abs=1e-6)
    # Step 1 (atom types) for 3-atom graphs: every path of that size shares the state.
    rows = [r for r in range(len(paths)) if int(paths.sizes[r]) == 3]
    by_atoms = {}
    for r in rows:
        by_atoms.setdefault(graph_key(paths, r)[1], r)
    log_p = torch.stack([p_steps[r, 1] for r in by_atoms.values()])
    log_q = torch.stack([q_steps[r, 1] for r in by_atoms.values()])
    brute = (log_p.exp() * (log_p - log_q)).sum().item()
    assert kl[rows[0], 1].item() == pytest.approx(brute, rel=1e-4)


def test_log_probs_are_differentiable():
    model = toy_model(types=("C", "N", "O"), max_atoms=5)
    trajectory = model.sample(8, steps=4, generator=torch.Generator().manual_seed(2))
    reference = copy.deepcopy(model)
    score = model.score(trajectory, [reference])
    (score.log_probs.sum() + score.kl[0].sum()).backward()
    grads = [p.grad for p in model.denoiser.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_round_robin_reveals_each_pair_once_in_matchings():
    for n in range(1, 10):
        rounds = round_robin(n)
        assert torch.equal(rounds, rounds.T) and (rounds.diagonal() == 0).all()
        off = ~torch.eye(n, dtype=torch.bool)
        assert (rounds[off] >= 1).all() and int(rounds.max()) == num_rounds(n)
        for r in range(1, num_rounds(n) + 1):
            assert ((rounds == r).sum(-1) <= 1).all()  # a matching: one pair per atom


def test_round_robin_paths_score_like_they_were_sampled():
    model = toy_model(types=("C", "N", "O"), max_atoms=7, schedule="round_robin")
    trajectory = model.sample(30, steps=4, generator=torch.Generator().manual_seed(5))
    assert trajectory.round_robin and trajectory.atom_steps == 1
    width = trajectory.atoms.shape[1]
    assert trajectory.num_denoising_steps == 1 + num_rounds(width)
    with torch.no_grad():
        score = model.score(trajectory, [model])
    assert torch.isfinite(score.log_probs).all()
    assert score.kl[0].abs().max().item() < 1e-6
    used = trajectory.edges.sum(-1)
    assert ((used <= model.valences[trajectory.atoms]) | trajectory.padding).all()


# ---- valence-aware sampling ------------------------------------------------------------------
def test_bond_limits_split_an_atoms_valence_between_pairs_revealed_together():
    vocabulary = AtomBondVocabulary(["C", "O"])
    atoms = torch.tensor([[1, 0, 0]])  # O, C, C
    edges = torch.full((1, 3, 3), EDGE_MASK)
    edges[0].fill_diagonal_(0)
    revealing = torch.tensor([[[False, True, True], [True, False, False], [True, False, False]]])
    limits = bond_limits(
        atoms, edges, revealing, torch.zeros(1, 3, dtype=torch.bool), vocabulary.valence_tensor()
    )
    assert limits[0, 0, 1].item() == 1 and limits[0, 0, 2].item() == 1  # O: 2 valence, 2 pairs
    assert limits[0, 1, 2].item() == 4  # two carbons alone: up to their valence


def test_valence_aware_sampling_never_exceeds_valence():
    model = toy_model(types=("C", "O", "F"), max_atoms=8, seed=3)
    generator = torch.Generator().manual_seed(4)
    trajectory = model.sample(300, steps=6, generator=generator)
    used = trajectory.edges.sum(-1)
    limit = model.valences[trajectory.atoms]
    assert ((used <= limit) | trajectory.padding).all()
    model.valence_mask = False
    unmasked = model.sample(300, steps=6, generator=torch.Generator().manual_seed(4))
    over = (unmasked.edges.sum(-1) > model.valences[unmasked.atoms]) & ~unmasked.padding
    assert over.any(-1).float().mean() > 0.2  # the random model needs the mask


def connected(trajectory: GraphTrajectory, row: int) -> bool:
    size = int(trajectory.sizes[row])
    bonded = trajectory.edges[row, :size, :size] > 0
    seen, frontier = {0}, [0]
    while frontier:
        i = frontier.pop()
        for j in bonded[i].nonzero().flatten().tolist():
            if j not in seen:
                seen.add(j)
                frontier.append(j)
    return len(seen) == size


def test_components_join_atoms_along_bond_paths():
    """A 6-atom chain (path length 5: two squarings reach only 4) and a lone atom."""
    bonded = torch.zeros(1, 7, 7, dtype=torch.bool)
    for i in range(5):
        bonded[0, i, i + 1] = bonded[0, i + 1, i] = True
    expected = torch.zeros(7, 7, dtype=torch.bool)
    expected[:6, :6] = True
    expected[6, 6] = True
    assert torch.equal(components(bonded)[0], expected)


def test_last_exit_rule_forces_one_bond_when_a_component_would_be_cut_off():
    valences = AtomBondVocabulary(["C", "O"]).valence_tensor()
    atoms = torch.tensor([[0, 0, 0, 1]])  # C0 C1 C2 O3
    edges = torch.full((1, 4, 4), EDGE_MASK)
    edges[0].fill_diagonal_(0)
    edges[0, 0, 1] = edges[0, 1, 0] = 1  # C0-C1 bonded
    edges[0, 0, 2] = edges[0, 2, 0] = 0  # decided: no bond
    edges[0, 0, 3] = edges[0, 3, 0] = 0
    revealing = torch.zeros(1, 4, 4, dtype=torch.bool)
    revealing[0, 1, 3] = revealing[0, 3, 1] = True  # this step decides C1 . O3
    padding = torch.zeros(1, 4, dtype=torch.bool)
    # {C0, C1} can still leave through C1 . C2 later, {O3} through C2 . O3: nothing forced.
    assert not last_exits(atoms, edges, revealing, padding, valences).any()
    # Once C1 . C2 is decided, {C0, C1} can only leave through C1 . O3: it must bond.
    edges[0, 1, 2] = edges[0, 2, 1] = 0
    forced = last_exits(atoms, edges, revealing, padding, valences)
    assert forced[0, 1, 3] and forced[0, 3, 1] and forced.sum() == 2
    # An atom with no valence left is no exit, so nothing can be forced through it.
    no_oxygen_valence = torch.tensor([4, 0])
    assert not last_exits(atoms, edges, revealing, padding, no_oxygen_valence).any()


@pytest.mark.parametrize("types", [("C",), ("C", "O")])
def test_connectivity_rule_is_exact_and_removes_disconnected_graphs(types):
    """Up to three carbons can never use up a component's valence, so with the rule every path
    of the all-carbon toy space that ends in fragments has probability 0. With oxygen a
    component can saturate (O=O) and leave an atom alone; the rule only shrinks that mass.
    Either way the paths' probabilities still sum to 1."""
    model = toy_model(types=types, schedule="round_robin", seed=7)
    paths = all_graph_paths(len(types), robin=True)
    split = torch.tensor([not connected(paths, row) for row in range(len(paths))])
    with torch.no_grad():
        probs = torch.exp(model.log_probs(paths).sum(-1))
        model.connect_mask = False
        unmasked = torch.exp(model.log_probs(paths).sum(-1))
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert unmasked.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert unmasked[split].sum().item() > 0.05
    if types == ("C",):
        assert probs[split].max().item() == 0.0
    else:
        assert probs[split].sum().item() < 0.3 * unmasked[split].sum().item()


def test_connectivity_rule_keeps_larger_random_graphs_in_one_piece():
    model = toy_model(types=("C", "N", "O"), max_atoms=10, seed=8, schedule="round_robin")
    n = 300
    trajectory = model.sample(n, steps=4, generator=torch.Generator().manual_seed(9))
    whole = sum(connected(trajectory, row) for row in range(n)) / n
    with torch.no_grad():
        score = model.score(trajectory, [model])
    assert torch.isfinite(score.log_probs).all() and score.kl[0].abs().max().item() < 1e-6
    model.connect_mask = False
    free = model.sample(n, steps=4, generator=torch.Generator().manual_seed(9))
    whole_free = sum(connected(free, row) for row in range(n)) / n
    # Random weights draw many double and triple bonds, so components often saturate (which
    # the rule cannot undo); it still joins a clear share of the graphs left in fragments.
    assert whole >= whole_free + 0.1


# ---- fine-tuning reaches the KL-regularized optimum on graphs ---------------------------------
def test_finetuned_graph_sampler_approaches_closed_form_optimum():
    model = toy_model(max_atoms=2, seed=5)
    paths = all_graph_paths(2, max_atoms=2)
    pretrained = {k: p for k, p in marginal(model, paths).items() if p > 0}
    generator = torch.Generator().manual_seed(6)
    table = {k: 5.0 * torch.rand(1, generator=generator).item() for k in sorted(pretrained)}
    weights = {k: p * torch.exp(torch.tensor(table[k])).item() for k, p in pretrained.items()}
    target = {k: w / sum(weights.values()) for k, w in weights.items()}

    def reward(trajectory):
        return torch.tensor([table[graph_key(trajectory, i)] for i in range(len(trajectory))])

    policy = copy.deepcopy(model)
    config = FinetuneConfig(alpha=1.0, iterations=200, batch_size=256, denoising_steps=2, lr=3e-3)
    PolicyGradientFinetuner(model, config).run(policy, reward, generator=generator)
    after = marginal(policy, paths)
    before_tv = 0.5 * sum(abs(pretrained[k] - target[k]) for k in target)
    after_tv = 0.5 * sum(abs(after.get(k, 0.0) - target[k]) for k in target)
    assert before_tv > 0.15
    assert after_tv < 0.1 and after_tv < 0.5 * before_tv


# ---- training and checkpoints ------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    vocabulary = AtomBondVocabulary.from_smiles(SMILES, min_count=1)
    graphs = [g for g in (vocabulary.encode(s, 40) for s in SMILES) if g is not None]
    out = tmp_path_factory.mktemp("graph") / "tiny_graph.pt"
    config = TrainConfig(
        batch_size=8,
        max_steps=40,
        warmup_steps=4,
        eval_every=20,
        seed=0,
        lr=3e-3,
        denoiser=GraphDenoiserConfig(
            max_atoms=40, d_node=16, d_edge=8, n_layers=1, d_ff=32, n_heads=2
        ),
    )
    trainer = Pretrainer(graphs, graphs[:6], vocabulary, config, out)
    first = trainer.validation_loss()
    row = trainer.run(progress=False)
    return out, graphs, first, row


def test_pretraining_lowers_the_held_out_loss(trained):
    _, graphs, first, row = trained
    assert len(graphs) >= 20
    assert row["step"] == 40
    assert row["valid_loss"] < first


def test_checkpoint_round_trip_and_domain(trained):
    out, *_ = trained
    model = load_model(out)
    assert isinstance(model, GraphDiffusion)
    assert checkpoint_domain(out) == "molecule"
    trajectory = model.sample(6, steps=4, generator=torch.Generator().manual_seed(0))
    copy_path = out.with_name("copy.pt")
    save_model(model, copy_path)
    again = load_model(copy_path)
    with torch.no_grad():
        assert torch.allclose(model.log_probs(trajectory), again.log_probs(trajectory))
    designs = model.decode(trajectory)
    assert len(designs) == 6
    assert all(d is None or isinstance(d, str) for d in designs)
