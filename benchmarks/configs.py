"""The benchmarked configurations (issue 5), identical for every framework."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    sizes: tuple[int, ...]
    activation: str        # hidden layers
    output: str            # output layer: "sigmoid" or "softmax"
    cost: str              # "quadratic" or "cross_entropy"
    optimizer: str         # "sgd" or "adam"
    eta: float
    batch: int
    init: str              # bpnn initialiser name; the others are set to match where they allow it

    @property
    def arch(self) -> str:
        return "-".join(map(str, self.sizes))

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_params(self) -> int:
        return self.n_weights + sum(self.sizes[1:])

    def flops_per_row(self) -> int:
        """Multiply-adds ×2 of one training row: forward, BP4, and BP2 below the output (not into the input)."""
        w = [a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        return 2 * (sum(w) + sum(w) + sum(w[1:]))

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS: dict[str, Config] = {
    "a": Config("a", "784-100-10 sigmoid, quadratic cost, SGD, batch 10, η 3.0",
                (784, 100, 10), "sigmoid", "sigmoid", "quadratic", "sgd", 3.0, 10, "normal"),
    "b": Config("b", "784-256-128-10 ReLU, softmax cross-entropy, Adam 1e-3, batch 128",
                (784, 256, 128, 10), "relu", "softmax", "cross_entropy", "adam", 1e-3, 128, "he_normal"),
    "c": Config("c", "784-500-1000-300-10 ReLU, softmax cross-entropy, Adam 1e-3, batch 100 (S4-framework)",
                (784, 500, 1000, 300, 10), "relu", "softmax", "cross_entropy", "adam", 1e-3, 100, "he_normal"),
}

#: Which frameworks can run which configuration faithfully.
SUPPORTED = {
    "bpnn": {"a", "b", "c"},
    "bpnn-numpy": {"a", "b", "c"},
    "torch": {"a", "b", "c"},
    # MLPClassifier always has a softmax (log-loss) output: no sigmoid/quadratic network
    "sklearn": {"b", "c"},
    # Nielsen's network.py is sigmoid + quadratic cost + plain SGD only
    "loop": {"a"},
}
