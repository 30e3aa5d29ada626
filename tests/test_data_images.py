"""samlab.data.images: real-format CIFAR files through the real loader, batched augmentation, the digits fallback."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision

from samlab.data.images import (CIFAR_STATS, ImageData, augment_batch, available_dataset, clear_dataset_cache,
                                dataset_available, download_dataset, iterate_batches, load_image_dataset,
                                load_training_data, normalize, random_crop, random_flip, subset)

N_PER_BATCH, N_TEST = 6, 8


def _dump(path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the real files are Python-2 pickles


def write_tiny_cifar(root, name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny CIFAR-10/100 in the real on-disk layout (pickled dicts, rows of 3072 uint8 in CHW order)."""
    rng = np.random.default_rng(seed)
    n_classes = 10 if name == "cifar10" else 100
    batches = 5 if name == "cifar10" else 1
    train_x = rng.integers(0, 256, (batches * N_PER_BATCH, 3072), dtype=np.uint8)
    train_y = rng.integers(0, n_classes, batches * N_PER_BATCH)
    test_x = rng.integers(0, 256, (N_TEST, 3072), dtype=np.uint8)
    test_y = rng.integers(0, n_classes, N_TEST)
    names = [f"class_{i}" for i in range(n_classes)]
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for b in range(batches):
            rows = slice(b * N_PER_BATCH, (b + 1) * N_PER_BATCH)
            _dump(folder / f"data_batch_{b + 1}", {
                "batch_label": f"training batch {b + 1} of 5", "labels": train_y[rows].tolist(),
                "data": train_x[rows], "filenames": [f"img_{i}.png" for i in range(N_PER_BATCH)]})
        _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": test_y.tolist(),
                                      "data": test_x, "filenames": [f"t_{i}.png" for i in range(N_TEST)]})
        _dump(folder / "batches.meta", {"num_cases_per_batch": N_PER_BATCH, "label_names": names, "num_vis": 3072})
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
            _dump(folder / split, {"filenames": [f"{split}_{i}.png" for i in range(len(y))], "batch_label": split,
                                   "fine_labels": y.tolist(), "coarse_labels": (y // 5).tolist(), "data": x})
        _dump(folder / "meta", {"fine_label_names": names, "coarse_label_names": [f"super_{i}" for i in range(20)]})
    return {"train_x": train_x.reshape(-1, 3, 32, 32), "train_y": train_y,
            "test_x": test_x.reshape(-1, 3, 32, 32), "test_y": test_y, "classes": names}


def _rows(x: torch.Tensor) -> set[bytes]:
    return {img.numpy().tobytes() for img in x}


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_real_format_cifar_round_trips_through_the_loader(tmp_path, name, capsys):
    truth = write_tiny_cifar(tmp_path, name)
    data = load_image_dataset(name, root=tmp_path, verify=False, calibration_size=0, allow_fallback=False)
    assert data.name == name and not data.is_fallback
    assert data.num_classes == len(truth["classes"]) and list(data.classes) == truth["classes"]
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape == (len(truth["train_y"]), 3, 32, 32)
    assert data.train_y.dtype == torch.int64 and data.test_y.dtype == torch.int64
    assert np.array_equal(data.train_x.numpy(), truth["train_x"])
    assert np.array_equal(data.train_y.numpy(), truth["train_y"])
    assert np.array_equal(data.test_x.numpy(), truth["test_x"])
    assert np.array_equal(data.test_y.numpy(), truth["test_y"])
    assert (data.mean, data.std) == CIFAR_STATS[name]
    assert len(data.calib_y) == 0 and f"loaded {name}" in capsys.readouterr().out


def test_md5_check_refuses_hand_written_files_and_says_why(tmp_path, capsys):
    write_tiny_cifar(tmp_path, "cifar10")
    with pytest.raises(RuntimeError, match="md5"):
        load_image_dataset("cifar10", root=tmp_path, allow_fallback=False)
    data = load_image_dataset("cifar10", root=tmp_path)  # verify=True, fallback allowed
    out = capsys.readouterr().out
    assert data.is_fallback and "md5" in out and "OFFLINE FALLBACK" in out


def test_calibration_split_is_cut_from_train_and_disjoint_from_test(tmp_path):
    truth = write_tiny_cifar(tmp_path, "cifar10")
    data = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=7, seed=1)
    train, calib, test = _rows(data.train_x), _rows(data.calib_x), _rows(data.test_x)
    assert len(calib) == 7 and len(train) == len(truth["train_y"]) - 7
    assert not calib & train and not calib & test and not train & test
    assert train | calib == _rows(torch.from_numpy(truth["train_x"]))
    again = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=7, seed=1)
    other = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=7, seed=2)
    assert torch.equal(again.calib_x, data.calib_x) and not torch.equal(other.calib_x, data.calib_x)


def test_digits_fallback_loads_offline_and_says_so(tmp_path, capsys):
    data = load_image_dataset("cifar100", root=tmp_path / "nothing_here", seed=0)
    out = capsys.readouterr().out
    assert data.is_fallback and data.name == "digits (offline fallback for cifar100)"
    assert "cifar100 not available" in out and "OFFLINE FALLBACK" in out and len(out.strip().splitlines()) == 1
    assert data.num_classes == 10 and set(data.train_y.tolist()) == set(range(10))
    assert len(data.train_y) + len(data.calib_y) + len(data.test_y) == 1797
    x = torch.cat([data.train_x, data.calib_x, data.test_x])
    assert x.dtype == torch.uint8 and x.shape[1:] == (3, 32, 32)
    assert int(x.min()) == 0 and int(x.max()) == 255
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey, replicated channels
    small = x[:, :, ::4, ::4]  # 8x8 source, each pixel a 4x4 block
    assert torch.equal(small.repeat_interleave(4, 2).repeat_interleave(4, 3), x)
    assert set(small.unique().tolist()) <= {round(v * 255 / 16) for v in range(17)}
    train, calib, test = _rows(data.train_x), _rows(data.calib_x), _rows(data.test_x)
    assert not calib & train and not calib & test and not train & test
    assert len(data.mean) == 3 and all(0 < s < 1 for s in data.std)


def test_digits_test_split_is_fixed_and_plain_digits_is_not_a_fallback(capsys):
    clear_dataset_cache()
    a = load_image_dataset("digits", seed=0, calibration_size=50)
    b = load_image_dataset("digits", seed=5, calibration_size=50)
    assert not a.is_fallback and a.name == "digits" and "loaded digits" in capsys.readouterr().out
    assert torch.equal(a.test_x, b.test_x) and not torch.equal(a.calib_x, b.calib_x)
    assert len(a.calib_y) == 50


def _coordinate_images(n: int) -> torch.Tensor:
    """Channel 0 holds row+1, channel 1 col+1, channel 2 the sample number: every pixel says where it came from."""
    r = torch.arange(1, 33, dtype=torch.uint8)
    img = torch.stack([r[:, None].expand(32, 32), r[None, :].expand(32, 32), torch.zeros(32, 32, dtype=torch.uint8)])
    x = img.repeat(n, 1, 1, 1)
    x[:, 2] = torch.arange(n, dtype=torch.uint8)[:, None, None]
    return x


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = _coordinate_images(48)
    out = random_crop(x, torch.Generator().manual_seed(0), padding=4)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    seen = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(9) for dx in range(9)
                if torch.equal(out[i], padded[i, :, dy:dy + 32, dx:dx + 32])]
        assert len(hits) == 1, f"sample {i} is not a window of its padded image"
        seen.add(hits[0])
    assert len(seen) > 10  # offsets differ per sample


def test_random_flip_reverses_width_for_about_half():
    x = _coordinate_images(64)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [bool(torch.equal(o, xi.flip(-1))) for o, xi in zip(out, x)]
    kept = [bool(torch.equal(o, xi)) for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept)) and 16 < sum(flipped) < 48
    i = flipped.index(True)
    assert out[i, 1, 0].tolist() == list(range(32, 0, -1))


def test_normalize_matches_the_formula_by_hand():
    x = torch.randint(0, 256, (3, 3, 4, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32
    for c in range(3):
        hand = (x[:, c].double() / 255 - mean[c]) / std[c]
        assert torch.allclose(out[:, c].double(), hand, atol=1e-6)


def test_eval_batches_are_unshuffled_unaugmented_and_keep_the_last_partial_batch():
    x = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(10)
    mean, std = CIFAR_STATS["cifar10"]
    batches = list(iterate_batches(x, y, 4, train=False, mean=mean, std=std))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[0] for b in batches]), normalize(x, mean, std))
    assert torch.equal(torch.cat([b[1] for b in batches]), y)


def test_same_seed_gives_identical_training_batches():
    x, y = _coordinate_images(20), torch.arange(20)

    def run(seed: int, augment: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(iterate_batches(x, y, 8, train=True, mean=(0.5,) * 3, std=(0.25,) * 3, augment=augment,
                                    generator=torch.Generator().manual_seed(seed)))

    a, b, c = run(3), run(3), run(4)
    assert len(a) == 2  # drop_last defaults to True when training
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert not all(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    plain = run(3, augment=False)  # shuffled, not augmented: each batch row is its own image, normalised
    for xb, yb in plain:
        assert torch.equal(xb, normalize(x[yb], (0.5,) * 3, (0.25,) * 3))


def test_image_data_batches_and_to():
    data = load_image_dataset("digits", calibration_size=10)
    assert data.to("cpu").train_x.device.type == "cpu"
    xb, yb = next(data.batches("calib", 4, train=False))
    assert torch.equal(xb, normalize(data.calib_x[:4], data.mean, data.std)) and torch.equal(yb, data.calib_y[:4])
    aug = next(data.batches("train", 4, train=True, generator=torch.Generator().manual_seed(0)))
    assert aug[0].shape == (4, 3, 32, 32) and aug[0].dtype == torch.float32
    assert augment_batch(data.test_x[:4], torch.Generator().manual_seed(0)).dtype == torch.uint8
    assert "is_fallback=False" in repr(data) and isinstance(data, ImageData)


@pytest.mark.parametrize("call, argument", [
    (lambda: load_image_dataset("mnist"), "name"),
    (lambda: load_image_dataset("digits", calibration_size=-1), "calibration_size"),
    (lambda: load_image_dataset("digits", calibration_size=10_000), "calibration_size"),
    (lambda: load_image_dataset("digits", calibration_size=2.5), "calibration_size"),
    (lambda: iterate_batches(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4), 0, train=False,
                             mean=(0,) * 3, std=(1,) * 3), "batch_size"),
    (lambda: iterate_batches(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4), 2, train=True,
                             mean=(0,) * 3, std=(1,) * 3), "generator"),
    (lambda: iterate_batches(torch.zeros(4, 3, 32, 32), torch.zeros(4), 2, train=False,
                             mean=(0,) * 3, std=(1,) * 3), "uint8"),
    (lambda: download_dataset("imagenet"), "name"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_unknown_dataset_error_lists_the_allowed_names():
    with pytest.raises(ValueError, match="'cifar10', 'cifar100', 'digits'"):
        load_image_dataset("svhn")


def test_download_without_network_raises_a_clear_error(tmp_path, monkeypatch):
    def no_network(self):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", no_network)
    with pytest.raises(RuntimeError, match="could not download cifar10 into .*offline digits fallback"):
        download_dataset("cifar10", root=tmp_path)


# --------------------------------------------------------------------------------------------- availability, cache
def test_one_availability_check_for_loader_and_training(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path))
    assert dataset_available("digits") and available_dataset("cifar100") == "digits"
    assert not dataset_available("cifar10") and available_dataset("cifar10") == "digits"
    write_tiny_cifar(tmp_path / "cifar10", "cifar10")
    assert dataset_available("cifar10") and available_dataset("cifar10") == "cifar10"
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert not dataset_available("cifar10")
    with pytest.raises(RuntimeError, match="lacks data_batch_3"):
        load_image_dataset("cifar10", allow_fallback=False, verify=False)
    from samlab import train
    assert train.available_dataset is available_dataset  # one function, not two checks
    with pytest.raises(ValueError, match="name='mnist'"):
        dataset_available("mnist")


def test_a_data_set_is_read_once_per_process_and_again_when_a_file_changes(tmp_path, capsys):
    clear_dataset_cache()
    write_tiny_cifar(tmp_path, "cifar10")
    a = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=2)
    b = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=2)
    assert b is a and capsys.readouterr().out.count("samlab: loaded cifar10") == 1
    c = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=2, seed=1)
    assert c is not a and "loaded cifar10" in capsys.readouterr().out  # another split: its own entry
    import shutil
    shutil.rmtree(tmp_path / "cifar-10-batches-py")
    truth = write_tiny_cifar(tmp_path, "cifar10", seed=9)  # new contents: read again
    d = load_image_dataset("cifar10", root=tmp_path, verify=False, calibration_size=0)
    assert np.array_equal(d.test_x.numpy(), truth["test_x"]) and "loaded cifar10" in capsys.readouterr().out


def test_training_data_is_the_fixed_subset_and_loads_once(capsys):
    clear_dataset_cache()
    a = load_training_data("digits", max_train_samples=40, max_test_samples=30)
    b = load_training_data("digits", max_train_samples=40, max_test_samples=30)
    assert b is a and capsys.readouterr().out.count("loaded digits") == 1
    full = load_image_dataset("digits", seed=0)
    idx = torch.randperm(len(full.train_y), generator=torch.Generator().manual_seed(0))[:40].sort().values
    assert torch.equal(a.train_x, full.train_x[idx]) and torch.equal(a.train_y, full.train_y[idx])
    assert len(a.test_y) == 30 and torch.equal(a.calib_x, full.calib_x)
    x, y = subset(full.test_x, full.test_y, None)
    assert x is full.test_x and y is full.test_y
    with pytest.raises(RuntimeError, match="never falls back"):
        load_training_data("cifar100") if not dataset_available("cifar100") else pytest.skip("CIFAR-100 present")
