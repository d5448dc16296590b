import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from metarl.envs.navigation_decoys import AUX_FEATURES, CUE_TRANSFORM

import metarl  # noqa: F401  (registers the families)

ENV_ID = "metarl/NavigationDecoys-v0"
TASK = {"goal_angle": 0.3, "cue": [0.5, -0.2]}
INFO_KEYS = {"true_reward", "hit_goal", "hit_decoy", "success", "aux_features"}


def drive(env, angle, speed=0.9, steps=20):
    """Head straight at ``angle``; every step's (reward, terminated, truncated, info)."""
    env.reset(seed=0)
    action = speed * np.array([np.cos(angle), np.sin(angle)])
    out = []
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(action)
        out.append((reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return out


def test_passes_the_gymnasium_env_checker_without_warnings():
    env = gym.make(ENV_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


@pytest.mark.parametrize("reward", ["any", "goal"])
def test_straight_to_the_goal_succeeds(reward):
    env = gym.make(ENV_ID, reward=reward)
    env.unwrapped.set_task(TASK)
    out = drive(env, TASK["goal_angle"])
    # Steps of 0.09: |x| = 0.45 after 5, 0.54 >= radius 0.5 after 6.
    assert len(out) == 6 and all(r == 0 and not term for r, term, *_ in out[:-1])
    reward_, terminated, truncated, info = out[-1]
    assert terminated and not truncated and reward_ == 1.0
    assert info["true_reward"] == info["hit_goal"] == info["success"] == 1.0
    assert info["hit_decoy"] == 0.0


def test_a_decoy_pays_only_the_underspecified_reward():
    decoy = TASK["goal_angle"] + np.pi / 2  # k = 1 of the 3 decoys
    for reward, expected in [("any", 1.0), ("goal", 0.0)]:
        env = gym.make(ENV_ID, reward=reward)
        env.unwrapped.set_task(TASK)
        reward_, terminated, _, info = drive(env, decoy)[-1]
        assert terminated and reward_ == expected and info["success"] == expected
        assert info["true_reward"] == info["hit_goal"] == 0.0 and info["hit_decoy"] == 1.0


@pytest.mark.parametrize("offset", [np.pi / 4, 0.41, -0.41, np.pi / 2 + 0.41])
def test_crossing_between_the_windows_pays_nothing(offset):
    env = gym.make(ENV_ID)
    env.unwrapped.set_task(TASK)
    reward, terminated, _, info = drive(env, TASK["goal_angle"] + offset)[-1]
    assert terminated and reward == 0.0
    assert info["hit_goal"] == info["hit_decoy"] == info["true_reward"] == info["success"] == 0.0


def test_windows_are_half_width_wide_and_wrap_around():
    env = gym.make(ENV_ID, reward="goal")
    env.unwrapped.set_task({"goal_angle": 2 * np.pi - 0.1, "cue": np.zeros(2)})
    assert drive(env, 0.29)[-1][0] == 1.0  # 0.39 from the goal, across the 0/2π seam
    assert drive(env, 0.31)[-1][0] == 0.0  # 0.41 from it


def test_a_wandering_path_is_truncated_at_the_time_limit():
    env = gym.make(ENV_ID)
    env.unwrapped.set_task(TASK)
    env.reset(seed=0)
    for t in range(20):
        _, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0]) * (-1) ** t)
        assert reward == 0 and not terminated and truncated == (t == 19)
        assert info["success"] == 0.0


@pytest.mark.parametrize("decoys", [0, 1, 5])
def test_every_target_is_hit_and_only_the_first_is_the_goal(decoys):
    env = gym.make(ENV_ID, decoys=decoys)
    env.unwrapped.set_task(TASK)
    for k in range(decoys + 1):
        target = TASK["goal_angle"] + 2 * np.pi * k / (decoys + 1)
        reward, terminated, _, info = drive(env, target)[-1]
        assert terminated and reward == 1.0
        assert (info["hit_goal"], info["hit_decoy"]) == ((1.0, 0.0) if k == 0 else (0.0, 1.0))
    if decoys == 0:  # the goal alone: its opposite side is a miss
        assert drive(env, TASK["goal_angle"] + np.pi)[-1][0] == 0.0


def test_aux_features_by_hand():
    env = gym.make(ENV_ID)
    env.unwrapped.set_task(TASK)
    c0, c1 = TASK["cue"]
    env.reset(seed=0)
    *_, info = env.step(np.zeros(2))  # still at the origin: u = 0
    np.testing.assert_allclose(info["aux_features"], [0, 0, 0, 0, 0, 0, c0, c1, 1], rtol=1e-6)
    *_, info = env.step(np.array([0.0, -3.0]))  # x = (0, -0.1): u = (0, -1)
    expected = [0, 0, -c0, -c1, 0, -1, c0, c1, 1]
    np.testing.assert_allclose(info["aux_features"], expected, rtol=1e-6)
    assert info["aux_features"].dtype == np.float32
    assert info["aux_features"].shape == (AUX_FEATURES,)


def test_the_vector_env_equals_a_loop_of_single_envs():
    n, steps = 5, 30
    tasks = gym.make(ENV_ID).unwrapped.sample_tasks(n - 1, np.random.default_rng(0)) + [TASK]
    rng = np.random.default_rng(1)
    # Copies head towards the goal, a decoy, a gap and anywhere, the last one wanders; noise
    # and out-of-range actions exercise the clipping.
    offsets = np.array([0, np.pi / 2, np.pi / 4, 2, 0])
    headings = np.array([t["goal_angle"] for t in tasks]) + offsets
    speeds = np.array([1.2, 0.8, 0.7, 1.5, 0.0])
    actions = speeds[None, :, None] * np.stack([np.cos(headings), np.sin(headings)], -1)
    actions = actions + rng.normal(0, 0.3, (steps, n, 2))
    for reward in ["any", "goal"]:
        vec = gym.make_vec(ENV_ID, n, reward=reward)
        vec.unwrapped.set_tasks(tasks)
        singles = [gym.make(ENV_ID, reward=reward) for _ in range(n)]
        obs, _ = vec.reset(seed=list(range(n)))
        for i, (env, task) in enumerate(zip(singles, tasks, strict=True)):
            env.unwrapped.set_task(task)
            np.testing.assert_array_equal(obs[i], env.reset(seed=i)[0])
        ended = {"terminated": 0, "truncated": 0}
        for t in range(steps):
            obs, rewards, terminated, truncated, info = vec.step(actions[t])
            assert set(info) == INFO_KEYS and info["aux_features"].shape == (n, AUX_FEATURES)
            for i, env in enumerate(singles):
                o, r, term, trunc, inf = env.step(actions[t, i])
                np.testing.assert_array_equal(obs[i], o)
                assert (rewards[i], terminated[i], truncated[i]) == (r, term, trunc)
                for key in INFO_KEYS:
                    np.testing.assert_array_equal(info[key][i], inf[key])
                if term or trunc:
                    env.reset()
            ended["terminated"] += terminated.sum()
            ended["truncated"] += truncated.sum()
            vec.reset(options={"reset_mask": terminated | truncated})
        assert ended["terminated"] > 0 and ended["truncated"] > 0


def test_tasks_are_seeded_and_in_range():
    env = gym.make(ENV_ID).unwrapped
    a = env.sample_tasks(100, np.random.default_rng(3))
    assert a == env.sample_tasks(100, np.random.default_rng(3))
    angles = np.array([t["goal_angle"] for t in a])
    assert angles.min() >= 0 and angles.max() < 2 * np.pi and angles.std() > 1.5
    assert all(isinstance(t["cue"], list) and len(t["cue"]) == 2 for t in a)


def cue_fit(cue):
    tasks = gym.make(ENV_ID, cue=cue).unwrapped.sample_tasks(4000, np.random.default_rng(0))
    angles = np.array([t["goal_angle"] for t in tasks])
    cues = np.array([t["cue"] for t in tasks])
    x = np.stack([np.cos(angles), np.sin(angles)], -1)
    fit, *_ = np.linalg.lstsq(x, cues, rcond=None)  # cues ≈ x @ fit
    r2 = 1 - ((cues - x @ fit) ** 2).sum() / ((cues - cues.mean(0)) ** 2).sum()
    return fit.T, r2, cues


def test_an_informative_cue_is_the_goal_direction_through_w_plus_noise():
    w, r2, cues = cue_fit("informative")
    np.testing.assert_allclose(w, CUE_TRANSFORM, atol=0.05)
    assert r2 > 0.8


def test_an_uninformative_cue_has_the_same_scale_but_no_information():
    _, r2, cues = cue_fit("uninformative")
    _, _, informative = cue_fit("informative")
    assert r2 < 0.01
    np.testing.assert_allclose(cues.std(0), informative.std(0), rtol=0.1)


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"reward": "dense"}, "reward"),
        ({"cue": "none"}, "cue"),
        ({"decoys": -1}, "decoys"),
        ({"decoys": 1.5}, "decoys"),
        ({"radius": 0.0}, "radius"),
        ({"half_width": 0.0}, "half_width"),
        ({"decoys": 7}, "half_width"),  # the default 0.4 > π/8: the windows would overlap
        ({"cue_noise": -0.1}, "cue_noise"),
        ({"max_action": 0.0}, "max_action"),
    ],
)
def test_bad_arguments_raise(kwargs, named):
    with pytest.raises(ValueError, match=named):
        gym.make(ENV_ID, **kwargs)
