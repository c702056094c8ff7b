import pytest
import torch

from course_utils.data import make_toy_2d
from course_utils.models import make_mlp
from course_utils.training import accuracy, evaluate, train_model


def test_training_lowers_loss_and_records_history():
    X, y = make_toy_2d("moons", n_samples=200, seed=0)
    torch.manual_seed(0)
    model = make_mlp(2, [16], 2)
    before = evaluate(model, X, y)["loss"]
    history = train_model(
        model,
        torch.optim.Adam(model.parameters(), lr=0.05),
        X,
        y,
        epochs=20,
        batch_size=50,
        X_val=X,
        y_val=y,
        progress=False,
    )
    assert len(history.step_loss) == 20 * 4 and history.examples_seen[-1] == 20 * 200
    assert len(history.val_accuracy) == 20
    assert history.val_loss[-1] < before / 2
    assert history.val_accuracy[-1] > 0.9


def test_training_is_deterministic_for_a_seed():
    X, y = make_toy_2d("circles", n_samples=100, seed=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = make_mlp(2, [8], 2)
        runs.append(
            train_model(
                model,
                torch.optim.SGD(model.parameters(), lr=0.1),
                X,
                y,
                epochs=3,
                batch_size=10,
                seed=5,
                progress=False,
            ).step_loss
        )
    assert runs[0] == runs[1]


def test_training_stops_on_nan():
    X, y = make_toy_2d("moons", n_samples=64, seed=0)
    model = make_mlp(2, [8], 2)
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    history = train_model(
        model, torch.optim.SGD(model.parameters(), lr=0.1), X, y, epochs=5, batch_size=16, progress=False
    )
    assert len(history.step_loss) == 1


@pytest.mark.parametrize("batch_size", [0, 65, 2.5])
def test_bad_batch_size(batch_size):
    X, y = make_toy_2d("moons", n_samples=64, seed=0)
    model = make_mlp(2, [8], 2)
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 64\]"):
        train_model(model, torch.optim.SGD(model.parameters(), lr=0.1), X, y, batch_size=batch_size, progress=False)


def test_accuracy_checks_shapes():
    assert accuracy(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])) == 0.5
    with pytest.raises(ValueError, match="same first dimension"):
        accuracy(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))
