"""The suite's numeric core and the helpers its check families (tests/test_*.py) share.

oracle (the float64 reference), envelope (tolerances derived from the oracle's shadow runs),
kinks (the other side a run may take at a ReLU kink), store (slow references kept on disk),
diagnosis and variants (named bugs: the hypotheses, the oracle with one bug put in), strategies and calls (the domain family's examples and their runner),
compare (assert helpers with one-line messages), start (how a check starts a run), stats
(chi-square), speed and matmul (the speed family's measuring).
"""
