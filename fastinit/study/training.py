"""Training the classic MNIST CNN under each initialization scheme, with
torch.nn.init and with fastinit.init.

The network is the one of PyTorch's original MNIST example (conv 1→20 5×5,
max-pool 2, conv 20→50 5×5, max-pool 2, fc 800→500, fc 500→10, ReLU,
log-softmax), unchanged. The data is scikit-learn's `load_digits` (1797
handwritten digits of 8×8 pixels, shipped inside the package: nothing to
download), upsampled to MNIST's 28×28 so that the network's shapes stay
those of the example, split 80/20 by a fixed permutation and standardized
with the training set's mean and deviation.

Note [paired seeds]: a run is (scheme, implementation, seed). The seed
sets torch's default generator before the model is built (stock draws from
it; fastinit draws its Philox seeds from it) and, through a separate
generator, the order of the training batches. Stock and fastinit runs of
one seed therefore see the same batches in the same order and differ only
in their initial weights, which makes the per-seed difference of their
results the quantity to test (fastinit.study.equivalence).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import fastinit
import fastinit.init

# scheme name -> (function of torch.nn.init / fastinit.init, keyword
# arguments), applied to every weight with the biases set to zero; "default"
# is the layers' own reset_parameters.
SCHEMES = {
    "default": None,
    "zeros_": ("zeros_", {}),
    "ones_": ("ones_", {}),
    "uniform_(0,1)": ("uniform_", {"a": 0.0, "b": 1.0}),
    "normal_(0,1)": ("normal_", {"mean": 0.0, "std": 1.0}),
    "xavier_uniform_": ("xavier_uniform_", {}),
    "xavier_normal_": ("xavier_normal_", {}),
    "kaiming_uniform_": ("kaiming_uniform_", {}),
    "kaiming_normal_": ("kaiming_normal_", {}),
    "orthogonal_": ("orthogonal_", {}),
}
IMPLEMENTATIONS = {"stock": torch.nn.init, "fastinit": fastinit.init}


class DigitsCNN(nn.Module):
    """The network of PyTorch's original MNIST example."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


@dataclass
class Digits:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_digits(device="cpu") -> Digits:
    """scikit-learn's digits at 28×28, split 1437/360 by a fixed permutation,
    standardized with the training set's statistics."""
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    labels = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    split = int(0.8 * len(labels))
    train, test = order[:split], order[split:]
    mean, std = images[train].mean(), images[train].std()
    images = (images - mean) / std
    return Digits(*(t.to(device) for t in (images[train], labels[train], images[test], labels[test])))


def scheme_initializer(scheme: str, implementation) -> Callable[[nn.Module], None]:
    """Applies `scheme` with `implementation` (torch.nn.init or
    fastinit.init) to every convolution and linear layer of a built model:
    weights by the named function, biases zero. "default" keeps what
    construction gave."""
    if SCHEMES[scheme] is None:
        return lambda model: None
    function, kwargs = SCHEMES[scheme]
    fill = getattr(implementation, function)

    def initialize(model: nn.Module):
        with torch.no_grad():
            for layer in model.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    fill(layer.weight, **kwargs)
                    if layer.bias is not None:
                        implementation.zeros_(layer.bias)

    return initialize


def build(factory: Callable[[], nn.Module], scheme: str, implementation_name: str, seed: int, device="cpu",
          initializer=None) -> nn.Module:
    """The model `factory` makes, initialized for one run (Note [paired
    seeds]). fastinit's "default" is the layers' reset_parameters under
    fastinit.patched(), the drop-in route; `initializer` replaces the
    scheme's (tests pass deliberately wrong ones)."""
    torch.manual_seed(seed)
    with torch.device(device):
        if implementation_name == "fastinit" and scheme == "default":
            with fastinit.patched():
                model = factory()
        else:
            model = factory()
    (initializer or scheme_initializer(scheme, IMPLEMENTATIONS[implementation_name]))(model)
    return model


def train(model: nn.Module, data: Digits, seed: int, epochs: int, batch_size: int = 16, lr: float = 0.01,
          momentum: float = 0.5) -> dict:
    """SGD with momentum, the original example's optimizer. Returns per
    epoch the mean training loss over the epoch's batches and the accuracy
    on the held-out set; a loss that is no longer finite stays so (the
    run has diverged and stays NaN; later epochs still run, as they would
    in a script)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    batches = torch.Generator().manual_seed(seed)
    losses, accuracies = [], []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(data.train_y), generator=batches).to(data.train_y.device)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.nll_loss(model(data.train_x[batch]), data.train_y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        model.eval()
        with torch.no_grad():
            correct = (model(data.test_x).argmax(dim=1) == data.test_y).sum().item()
        losses.append(total / len(order) if math.isfinite(total) else math.nan)
        accuracies.append(correct / len(data.test_y))
    return {"loss": losses, "accuracy": accuracies}
