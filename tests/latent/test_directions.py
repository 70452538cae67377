"""Latent directions (engine/latent/directions.py, direction_files.py): SeFa against an independent
computation, GANSpace, layer ranges, files (and hostile ones), and a direction knob driven over real OSC."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from pythonosc.udp_client import SimpleUDPClient

from engine.latent.direction_files import read_directions, write_directions
from engine.latent.directions import conv_affines, ganspace, layer_range, sefa
from engine.latent.files import LatentFileError
from engine.models import load_generator
from tests.conftest import wait_for


@pytest.fixture(scope="module")
def tiny(tiny_pkl):
    return load_generator(str(tiny_pkl), device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def default_model():
    return load_generator(device="cpu", precision="fp32")


def test_sefa_matches_an_independent_computation_on_the_official_fixture(tiny):
    # Independently: the affines by their official state-dict names, SVD instead of an eigendecomposition.
    state = {k: v.double().numpy() for k, v in tiny.state_dict().items()}
    names = sorted((k for k in state if ".affine.weight" in k and ".torgb." not in k),
                   key=lambda k: (int(k.split(".")[1][1:]), k))
    assert len(names) == len(conv_affines(tiny)) > 0
    columns = np.concatenate([state[k].T for k in names], axis=1)
    columns = columns / np.linalg.norm(columns, axis=0)
    left, _, _ = np.linalg.svd(columns, full_matrices=False)        # the eigenvectors of A·Aᵀ, in order
    ours = sefa(tiny, count=5).vectors
    cosines = np.abs(np.sum(left[:, :5].T * ours, axis=1))
    assert (cosines >= 0.999).all(), cosines


def test_the_directions_are_orthonormal_and_ganspace_spreads_fall(default_model):
    for found in (sefa(default_model, count=8), ganspace(default_model, count=8, samples=5000)):
        gram = found.vectors @ found.vectors.T
        assert np.allclose(gram, np.eye(8), atol=1e-4)
        assert (found.sigma > 0).all()
    pca = ganspace(default_model, count=8, samples=5000)
    assert (np.diff(pca.sigma) <= 1e-6).all()                       # most important first
    again = ganspace(default_model, count=8, samples=5000)
    assert np.array_equal(pca.vectors, again.vectors)               # seeded: the same every time


def test_a_direction_on_a_layer_range_leaves_the_other_layers_alone(default_model):
    G = default_model
    coarse = sefa(G, count=2).select([1], names=["pose"], layers=[layer_range("coarse", G.num_ws)])
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)), None)
    moved = coarse.apply(ws, {"pose": 1.5})
    assert torch.equal(moved[:, 4:], ws[:, 4:]) and not torch.allclose(moved[:, :4], ws[:, :4])
    step = (moved[:, :4] - ws[:, :4])[0]
    expected = 1.5 * float(coarse.sigma[0]) * torch.from_numpy(coarse.vectors[0])
    assert torch.allclose(step, expected.expand_as(step), atol=1e-5)
    assert coarse.apply(ws, {"pose": 0.0}) is ws and coarse.apply(ws, {"other": 3.0}) is ws


def test_the_image_moves_further_the_further_the_knob_turns(default_model):
    G = default_model
    found = sefa(G, count=1)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(11)), None, truncation_psi=0.7)
    with torch.no_grad():
        rest = G.synthesis(ws)
        distances = [float((G.synthesis(found.apply(ws, {"sefa0": a})) - rest).square().mean())
                     for a in (0.5, 1.0, 2.0, 3.0)]
    assert all(b > a for a, b in zip(distances, distances[1:])), distances


def test_layer_ranges():
    assert layer_range("fine", 18) == (8, 18) and layer_range("coarse", 8) == (0, 4)
    for bad in ("fine", "9:12", "3:3", "top", "1:2:3"):
        with pytest.raises(ValueError, match="layers"):
            layer_range(bad, 8)


def test_files_round_trip_and_single_directions_of_every_shape(default_model, tmp_path):
    G = default_model
    found = sefa(G, count=3)
    write_directions(str(tmp_path / "set.npz"), found)
    back = read_directions(str(tmp_path / "set.npz"), G)
    assert back.names == found.names and np.allclose(back.vectors, found.vectors) and back.layers == found.layers
    assert np.allclose(back.sigma, found.sigma)
    rng = np.random.RandomState(0)
    for shape in ((G.w_dim,), (1, G.w_dim), (G.num_ws, G.w_dim)):
        np.save(tmp_path / "one.npy", rng.randn(*shape))
        one = read_directions(str(tmp_path / "one.npy"), G, name="age")
        assert one.names == ("age",) and one.sigma[0] > 0
        assert np.allclose(np.linalg.norm(one.vectors[0], axis=-1), 1.0, atol=1e-5)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("make, words", [
    (lambda p, G: np.save(p / "d.npy", np.zeros(7)) or p / "d.npy", "do not fit this model"),
    (lambda p, G: np.save(p / "d.npy", np.zeros(G.w_dim)) or p / "d.npy", "length zero"),
    (lambda p, G: np.save(p / "d.npy", np.full(G.w_dim, np.nan)) or p / "d.npy", "NaN"),
    (lambda p, G: np.save(p / "d.npy", np.full(G.w_dim, 1e30)) or p / "d.npy", "values reach"),
    (lambda p, G: (p / "d.npy").write_bytes(pickle.dumps(np.zeros(G.w_dim))) and p / "d.npy", "pickle"),
    (lambda p, G: _npz(p / "d.npz", other=np.zeros((2, G.w_dim))), "needs an array named 'directions'"),
    (lambda p, G: _npz(p / "d.npz", directions=np.ones((2, G.w_dim)), names=np.array(["a", "A b"])), "names"),
    (lambda p, G: _npz(p / "d.npz", directions=np.ones((2, G.w_dim)), sigma=np.array([1.0, -1.0])), "sigma"),
    (lambda p, G: _npz(p / "d.npz", directions=np.ones((2, G.w_dim)), layers=np.array([[0, 99], [0, 1]])),
     "layers"),
    (lambda p, G: _npz(p / "d.npz", directions=np.array([object()] * 3, dtype=object)), "pickle"),
    (lambda p, G: _npz(p / "d.npz", directions=np.ones((100, G.w_dim))), "do not fit"),
])
def test_hostile_direction_files_are_refused_in_one_line(default_model, tmp_path, make, words):
    path = make(tmp_path, default_model)
    with pytest.raises(LatentFileError, match=words) as info:
        read_directions(str(path), default_model)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_an_npz_bomb_is_refused_before_it_inflates(default_model, tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("directions.npy", b"\0" * (600 * 2 ** 20))
    with pytest.raises(LatentFileError, match="inflates"):
        read_directions(str(path), default_model)


SHOW = """\
format: 1
directions:
  - {name: pose, from: sefa, index: 1, layers: coarse, range: 2}
  - {name: tone, from: ganspace, index: 0, layers: fine}
inputs:
  osc: {port: 0}
cues:
  - id: a
    actions:
      - fade: {param: dir.pose, to: 1.0, time: 1}
"""


def test_a_show_names_directions_and_osc_turns_them(tmp_path):
    from tests.controllers.sessions import osc_session
    with osc_session(tmp_path, SHOW) as (engine, osc):
        assert {"dir.pose", "dir.tone", "dir.sefa0"} <= set(engine.params.keys())
        assert engine.params.spec("dir.pose").maximum == 2.0
        engine.params.set("walk.speed", 0.0)
        engine.frame()
        rest = engine._steer(engine.source.frame_at(engine.walk_time, 0.7), engine.params.modulated()).ws
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/param/dir/pose", 1.5)
        wait_for(lambda: engine.events.posted >= 1, 5)
        engine.frame()
        assert engine.params.get("dir.pose") == 1.5
        moved = engine._steer(engine.source.frame_at(engine.walk_time, 0.7), engine.params.modulated()).ws
        assert not torch.allclose(moved[:, :4], rest[:, :4]) and torch.equal(moved[:, 4:], rest[:, 4:])
        G = engine.source.G
        with torch.no_grad():                                          # and the picture moves with it
            change = float((G.synthesis(moved) - G.synthesis(rest)).abs().mean())
        assert change > 1e-3, change


def test_bad_direction_sections_name_their_line(tmp_path):
    from engine.show import ShowLoadError, load_show
    path = tmp_path / "show.yaml"
    path.write_text("format: 1\ndirections:\n  - {name: Pose, from: sefa}\n  - {name: x, from: magic}\n"
                    "  - {name: y, file: missing.npy}\n  - {name: z, from: sefa, layers: top}\n"
                    "  - {name: sefa0, from: sefa}\ncues: []\n")
    with pytest.raises(ShowLoadError) as err:
        load_show(str(path))
    text = str(err.value)
    for words in ("3:12: E016 directions[0].name", "4:21: E016 directions[1].from", "5:21: E016 directions[2].file",
                  "6:35: E016 directions[3].layers", "7:12: E016 directions[4].name: dir.sefa0 already exists"):
        assert words in text, text


def test_export_and_preview_from_the_command_line(tmp_path, tiny_pkl):
    import cv2

    from engine.latent.direction_files import read_directions
    from tests.test_launch import launch
    out, sheet = tmp_path / "dirs.npz", tmp_path / "dirs.png"
    result = launch("--model", str(tiny_pkl), "--export-directions", "sefa", str(out), "--count", "3",
                    "--preview-directions", str(sheet))
    assert result.returncode == 0, result.stderr
    G = load_generator(str(tiny_pkl), device="cpu", precision="fp32")
    exported = read_directions(str(out), G)
    assert exported.names == ("sefa0", "sefa1", "sefa2")
    assert np.allclose(exported.vectors, sefa(G, count=3).vectors, atol=1e-6)
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[0] == 3 * (128 + 8) + 8
    bad = launch("--model", str(tiny_pkl), "--export-directions", "ganspace", str(out), "--direction-layers", "fine")
    assert bad.returncode == 1 and "--direction-layers: layers fine: no layer" in bad.stderr


def test_the_svm_recovers_a_planted_direction():
    from engine.latent.learn_direction import learn_direction
    rng = np.random.RandomState(4)
    planted = rng.randn(512)
    planted /= np.linalg.norm(planted)
    samples = rng.randn(3000, 512)                                   # InterFaceGAN-sized: more examples than dims
    score = samples @ planted
    learned = learn_direction(samples[score > 0.3], samples[score < -0.3])
    assert abs(float(learned.normal @ planted)) >= 0.95 and float(learned.normal @ planted) > 0
    assert learned.held_out and learned.accuracy >= 0.9
    with pytest.raises(ValueError, match="at least 3 examples"):
        learn_direction(samples[:2], samples[2:10])


def test_learning_from_the_command_line_with_seeds_and_files(tmp_path, tiny_pkl):
    from engine.latent.learn_direction import gather_latents
    from tests.test_launch import launch
    G = load_generator(str(tiny_pkl), device="cpu", precision="fp32")
    w = gather_latents("0-59", G)
    axis = np.linalg.svd(w - w.mean(axis=0), full_matrices=False)[2][0]      # a real axis of this model's W
    score = (w - w.mean(axis=0)) @ axis
    np.save(tmp_path / "pos.npy", w[score > 0].astype(np.float32))
    np.save(tmp_path / "neg.npy", w[score <= 0].astype(np.float32))
    out = tmp_path / "learned.npy"
    result = launch("--model", str(tiny_pkl), "--learn-direction", "axis", "--positive", str(tmp_path / "pos.npy"),
                    "--negative", str(tmp_path / "neg.npy"), "--out", str(out))
    assert result.returncode == 0 and "learned.npy: axis from" in result.stderr, result.stderr
    normal = np.load(out)
    assert normal.shape == (G.w_dim,) and abs(float(normal @ axis)) > 0.8
    assert read_directions(str(out), G, name="axis").names == ("axis",)
    for bad, words in ((["--positive", "1-x"], "expected a seed"), (["--positive", "9-3"], "A <= B"),
                       (["--positive", "1,2"], "at least 3 examples")):
        args = ["--model", str(tiny_pkl), "--learn-direction", "axis", "--negative", "10-20", "--out", str(out)] + bad
        result = launch(*args)
        assert result.returncode == 1 and words in result.stderr, result.stderr


def test_frames_labelled_live_over_osc_become_a_direction(tmp_path):
    from tests.controllers.sessions import osc_session
    show = "format: 1\ninputs:\n  osc: {port: 0}\ncues:\n  - id: a\n    actions:\n      - fade: {param: gen.psi, to: 1, time: 1}\n"
    with osc_session(tmp_path, show) as (engine, osc):
        client = SimpleUDPClient("127.0.0.1", osc.port)
        engine.frame()
        sent = 0
        for side, seeds in (("positive", range(0, 6)), ("negative", range(100, 106))):
            for seed in seeds:
                client.send_message("/walk/jump", seed)
                client.send_message(f"/direction/stormy/{side}", 1)
                sent += 2
                wait_for(lambda: engine.events.posted >= sent, 5)
                engine.frame()                              # the jump, then the label of what is shown
                engine.frame()
        wait_for(lambda: engine.frame() or "dir.stormy" in engine.params.keys(), 30)
        assert any("direction stormy learned from" in m for m in engine.messages), engine.messages
        assert engine.directions is not None and "stormy" in engine.directions.names
        client.send_message("/direction/Bad name/positive", 1)
        wait_for(lambda: osc.bad >= 1, 5)


def test_ganspace_is_cached_by_the_models_hash_and_a_damaged_cache_is_recomputed(default_model, tmp_path,
                                                                                  monkeypatch):
    import os

    from engine.latent.directions import cache_folder, model_key
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = ganspace(default_model, count=4, samples=3000)
    (cached,) = os.listdir(cache_folder())
    assert cached.startswith(model_key(default_model)) and "-3000-0" in cached
    assert np.array_equal(ganspace(default_model, count=4, samples=3000).vectors, first.vectors)
    (tmp_path / "latentstage" / "directions" / cached).write_bytes(b"PK\x03\x04 not a zip at all")
    assert np.array_equal(ganspace(default_model, count=4, samples=3000).vectors, first.vectors)
