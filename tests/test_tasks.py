"""Tasks given by hand: --task KEY=VALUE and task files, checked against the family's form."""

import json

import gymnasium as gym
import numpy as np
import pytest

from metarl.config import ConfigError
from metarl.tasks import check_task, load_task_file, parse_task_args, task_to_json

NAV = "metarl/Navigation2D-v0"


@pytest.fixture(scope="module")
def nav():
    return gym.make(NAV).unwrapped


def test_task_parsing_and_checking(nav):
    assert parse_task_args(["velocity=1.5"]) == {"velocity": 1.5}
    assert parse_task_args(["goal=0.3,-0.2"]) == {"goal": [0.3, -0.2]}
    task = check_task({"goal": [0.3, -0.2]}, nav, NAV)
    assert np.allclose(task["goal"], [0.3, -0.2]) and task["goal"].shape == (2,)
    with pytest.raises(ConfigError, match="2 numbers"):
        check_task({"goal": 0.3}, nav, NAV)


def test_task_file_as_list_or_object(nav, tmp_path):
    goals = [[0.1, -0.3], [-0.45, 0.2]]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"goal": g} for g in goals]))
    wrapped = tmp_path / "object.json"
    wrapped.write_text(json.dumps({"source": "by hand", "tasks": [{"goal": g} for g in goals]}))
    for path in (listed, wrapped):
        tasks = load_task_file(path, nav, NAV)
        assert [task_to_json(task) for task in tasks] == [{"goal": g} for g in goals]
        assert all(task["goal"].shape == (2,) for task in tasks)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not a readable JSON file"),
        ("[]", "expected a non-empty list of tasks"),
        ('{"goals": [[0, 0]]}', "expected a non-empty list of tasks"),
        ('[{"goal": [0, 0]}, {"target": [0, 0]}]', "task 1 target: not a key of"),
        ('[{"goal": [0, 0, 0]}]', "task 0 goal: metarl/Navigation2D-v0 expects goal"),
        ('[{"goal": "near"}]', "task 0 goal: expected numbers"),
        ("[[0.1, 0.2]]", "task 0: expected a task such as"),
    ],
)
def test_bad_task_file_is_refused_in_one_line(nav, tmp_path, content, message):
    path = tmp_path / "tasks.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        load_task_file(path, nav, NAV)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_missing_task_file_is_refused(nav, tmp_path):
    with pytest.raises(ConfigError, match="not a readable JSON file"):
        load_task_file(tmp_path / "absent.json", nav, NAV)
