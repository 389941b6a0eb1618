"""Sizes shared by the pipeline tests: few cells and few layout iterations keep SPRING fast."""

N_CELLS = 1100
FAST_SPRING = {"n_force_iter": 20}
#: Parameters of every analysis the pipeline tests run.
FAST = {"SPRING": FAST_SPRING, "TSNE": {"n_iter": 250}}
