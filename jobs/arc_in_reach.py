"""The real ARC-AGI-1 training tasks that some program of trainer/synthetic.py's task families solves
exactly (tests/trainer_data/test_synthetic.py checks each). The demo's GRPO stage trains on them to show
reward rising after a synthetic warm start. Kept here, free of numpy, so the CLI can read it without
importing the trainer."""

ARC1_TRAIN_IN_REACH = (
    "00d62c1b",
    "1cf80156",
    "3c9b0459",
    "4c4377d9",
    "6150a2bd",
    "67a3c6ac",
    "68b16354",
    "6d0aefbc",
    "6fa7a44f",
    "74dd1130",
    "8be77c9e",
    "9172f3a0",
    "9dfd6313",
    "a416b8f3",
    "a5313dff",
    "b1948b0a",
    "c59eb873",
    "c8f0f002",
    "c9e6f938",
    "d037b0a7",
    "ed36ccf7",
)
