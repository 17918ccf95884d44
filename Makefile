# molseiko: the exact commands for install, tests, benchmarks and the shipped checkpoints.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ZINC := data/zinc250k/zinc250k.csv.gz

.PHONY: install run test lint bench pretrain-selfies pretrain-graph pretrain-gfp simulator-gfp data

install: $(STAMP)

# torch first: the CPU wheel on this machine's disk; a GPU user installs their own build beforehand.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,dock]"
	touch $(STAMP)

run: install
	$(BIN)/molseiko optimize --out runs/make-run-$$(date +%Y%m%d-%H%M%S)

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check molseiko tests benchmarks

bench: install
	$(BIN)/python benchmarks/model_quality.py --n 10000 --out benchmarks/results
	$(BIN)/python benchmarks/feedback_efficiency.py --tasks qed osimertinib_mpo ranolazine_mpo \
		--budget 1000 --batch-size 100 --set first_batch=$(ZINC) --out benchmarks/results
	$(BIN)/python benchmarks/feedback_efficiency.py --tasks osimertinib_mpo ranolazine_mpo --methods ucb \
		--set first_batch=$(ZINC) graph_crossover=1.0 infill=0 finetune_iterations=0 \
		--out benchmarks/results
	$(BIN)/python benchmarks/feedback_efficiency.py --tasks osimertinib_mpo ranolazine_mpo --methods ucb greedy \
		--set first_batch=$(ZINC) library=$(ZINC) library_pool=20000 --out benchmarks/results
	$(BIN)/python benchmarks/graph_ga.py --settings 50x50 50x100 50x100+100 100x100 \
		--seeds 0 1 2 3 4 5 6 7 8 9 --out benchmarks/results
	$(BIN)/python benchmarks/pool_headroom.py --rounds 2 3 4 6 8 --out benchmarks/results \
		$(foreach t,osimertinib_mpo ranolazine_mpo,$(foreach s,1 2,\
		"benchmarks/results/runs/$(t)-greedy+first_batch=zinc250k-$(s)"))
	$(BIN)/python benchmarks/pool_variants.py --rounds 2 4 6 --out benchmarks/results \
		$(foreach s,1 2,"benchmarks/results/runs/osimertinib_mpo-ucb+first_batch=zinc250k-$(s)")
	$(BIN)/python benchmarks/ensemble_fitting.py --objective osimertinib_mpo --out benchmarks/results
	$(BIN)/python benchmarks/ensemble_fitting.py --objective ranolazine_mpo --out benchmarks/results
	$(BIN)/python benchmarks/reward_calibration.py --rounds 2 3 4 5 --out benchmarks/results \
		$(foreach t,osimertinib_mpo ranolazine_mpo,$(foreach s,0 1 2,\
		"benchmarks/results/runs/$(t)-ucb+first_batch=zinc250k-$(s)"))
	$(BIN)/python benchmarks/docking.py --parts speed campaign --target parp1
	$(BIN)/python benchmarks/ehrlich.py --length 32 --motifs 2 --budget 1000 --seeds 0 1 2
	$(BIN)/python benchmarks/protein_quality.py --n 300

# The command that made data/models/selfies_zinc250k.pt (see data/models/README.md).
pretrain-selfies: install
	$(BIN)/molseiko pretrain --data data/zinc250k/zinc250k.csv.gz \
		--test-idx data/zinc250k/valid_idx_zinc250k.json \
		--out data/models/selfies_zinc250k.pt --preset zinc_small \
		--max-minutes 120 --seed 0 --device cpu

# The command that made data/models/protein_gfp.pt: the fluorescent avGFP variants (log10
# brightness >= 2.5, the valley of the bimodal distribution), stop codons dropped.
pretrain-graph: install
	OMP_NUM_THREADS=2 $(BIN)/molseiko pretrain --model graph --data data/zinc250k/zinc250k.csv.gz \
		--test-idx data/zinc250k/valid_idx_zinc250k.json \
		--out data/models/graph_zinc250k.pt --preset zinc_graph \
		--max-minutes 90 --seed 0 --device cpu

pretrain-gfp: install
	OMP_NUM_THREADS=1 $(BIN)/molseiko pretrain --data data/protein/gfp/avgfp_variants_sequences.csv.gz \
		--where 'medianBrightness>=2.5' --skip-invalid --out data/models/protein_gfp.pt \
		--preset protein_small --batch-size 64 --lr 1e-3 --eval-every 250 \
		--max-minutes 55 --seed 0 --device cpu

# The command that made data/models/gfp_brightness_simulator.npz.
simulator-gfp: install
	$(BIN)/molseiko fit-simulator --data data/protein/gfp/avgfp_variants_sequences.csv.gz \
		--wild-type data/protein/gfp/avGFP_wt.fasta --column medianBrightness \
		--out data/models/gfp_brightness_simulator.npz --seed 0
