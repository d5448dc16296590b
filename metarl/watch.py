"""``metarl watch``: see a meta-trained policy adapt to one task, before and after each step.

The adaptation is :func:`metarl.evaluate.adapt_to_tasks`: the episodes of every step are
collected by the batched sampler, as in evaluation, and step ``k`` uses ``α`` then ``α/2``.
What is shown depends on the family:

- **Rendered families** (those with an ``rgb_array`` render mode, e.g. the MuJoCo ones). The
  sampler's ``mujoco.batch`` cannot render and keeps no per-episode seeds to replay, so each
  parameter set ``θ, θ_1, ..., θ_K`` runs one more episode in a single rendering env. Every
  panel's episode starts from ``reset(seed)`` with the same action noise, so the panels differ
  only by the parameters. Frames carry a label (task, step, return so far) and go side by side
  or one after another into an MP4 or GIF (a PNG: the last frames), or to MuJoCo's viewer.
- **Navigation2D.** The adaptation episodes themselves, drawn as trajectories from the start to
  the goal: a PNG, plus an animated GIF for ``--out x.gif``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image, ImageDraw, ImageFont  # Pillow: a dependency of matplotlib and imageio

from metarl.config import ConfigError, EvalConfig, override_eval, registered_id
from metarl.envs.navigation2d import Navigation2DEnv
from metarl.episodes import Episodes
from metarl.evaluate import adapt_to_tasks, reseed
from metarl.policy import GaussianMLP, Params
from metarl.tasks import check_task, format_task
from metarl.trainer import Learner, horizon_of, load_learner

RENDER_SUFFIXES = (".mp4", ".gif", ".png")  # .png: a still of every panel's last frame
NAVIGATION_SUFFIXES = (".png", ".gif")  # .gif: the PNG and an animation of it
LAYOUTS = ("side", "sequence")


@dataclass
class WatchResult:
    """What :func:`watch` did."""

    task: dict
    out: list[Path]  # files written (none for live)
    returns: np.ndarray  # [K + 1] mean return of the adaptation episodes after k steps
    shown: np.ndarray | None  # [K + 1] return of the rendered episode (None: Navigation2D
    # draws the adaptation episodes themselves)
    frames: int  # frames per file (1 for a PNG)
    # Per scalar info term the family reports (e.g. HalfCheetah's x_velocity): its mean per env
    # step over the adaptation episodes after k steps, [K + 1].
    terms: dict[str, np.ndarray] = field(default_factory=dict)


# --- rendering --------------------------------------------------------------------------------


def _gl_works(backend: str) -> bool:
    """Whether MuJoCo can create an offscreen ``backend`` context (tried in a child process)."""
    probe = (
        f"from mujoco.{backend} import GLContext; c = GLContext(8, 8); c.make_current(); c.free()"
    )
    env = {**os.environ, "MUJOCO_GL": backend}
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def use_offscreen_gl() -> str:
    """Choose MuJoCo's offscreen OpenGL: the user's ``MUJOCO_GL``, else EGL, else OSMesa.

    Gymnasium reads ``MUJOCO_GL`` when an env creates its renderer, so setting it here works
    although ``mujoco`` is already imported. Backends are probed in a child process because a
    failed attempt here would pin PyOpenGL to the failed platform for the whole process.
    """
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    for backend in ("egl", "osmesa"):
        if _gl_works(backend):
            os.environ["MUJOCO_GL"] = backend
            return backend
    raise ConfigError(
        "no offscreen OpenGL: neither EGL nor OSMesa can create a context here; install them "
        "(apt-get install libegl1 libegl-mesa0 libosmesa6) or set MUJOCO_GL"
    )


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def make_render_env(learner: Learner, width: int, height: int) -> gym.Env:
    """A single env of the learner's family, ``rgb_array`` frames ``[height, width, 3]``.

    MuJoCo families look through the model's ``track`` camera, which follows the body.
    """
    cfg = learner.config
    kwargs = dict(cfg.env_kwargs)
    if isinstance(learner.family, MujocoEnv):
        kwargs.update(width=width, height=height)
        model = learner.family.model
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track") >= 0:
            kwargs["camera_name"] = "track"
    env = gym.make(
        registered_id(cfg.env),
        render_mode="rgb_array",
        max_episode_steps=horizon_of(cfg),
        disable_env_checker=True,  # its render check costs an extra frame per env
        **kwargs,
    )
    if isinstance(env.unwrapped, MujocoEnv):
        # A 4096² shadow map (the models' default) makes software rendering (llvmpipe) 2-3x
        # slower; 1024² looks the same at video sizes. Read when the first frame is rendered.
        quality = env.unwrapped.model.vis.quality
        quality.shadowsize = min(quality.shadowsize, 1024)
    return env


def play(
    env: gym.Env, policy: GaussianMLP, params: Params, task: dict, seed: int
) -> Iterator[float]:
    """Run one episode of ``params`` (shared or ``[1, ...]``) on ``task`` in ``env`` from
    ``reset(seed)``.

    Yields the return so far after the reset (0.0) and after every step, so that the caller
    can render each state. Actions are ``μ + σ ε`` (``ε`` from a generator seeded with ``seed``)
    clipped to the action space, as the sampler draws them. A NaN/Inf ends the episode.
    """
    generator = torch.Generator().manual_seed(seed)
    low = torch.as_tensor(env.action_space.low)
    high = torch.as_tensor(env.action_space.high)
    env.unwrapped.set_task(task)
    obs, _ = env.reset(seed=seed)
    total = 0.0
    yield total
    while True:
        with torch.no_grad():
            dist = policy.distribution(
                torch.as_tensor(obs, dtype=torch.float32).reshape(1, 1, -1), params
            )
            noise = torch.randn(policy.act_dim, generator=generator)
            action = (dist.mean + dist.std * noise).reshape(-1)
        obs, reward, terminated, truncated, _ = env.step(torch.clamp(action, low, high).numpy())
        if not (np.isfinite(obs).all() and np.isfinite(reward)):
            return
        total += float(reward)
        yield total
        if terminated or truncated:
            return


@functools.cache
def _font(height: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow's built-in font: scalable where Pillow has FreeType, a bitmap font otherwise.
    return ImageFont.load_default(size=max(10, height // 20))


def label(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """A copy of ``frame`` ``[H, W, 3]`` uint8 with ``lines`` written top left on a dark band."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image, "RGBA")
    font = _font(frame.shape[0])
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    pad, line_height = 4, max(box[3] for box in boxes) + 2
    width = max(box[2] for box in boxes) + 2 * pad
    draw.rectangle((0, 0, width, len(lines) * line_height + pad), fill=(0, 0, 0, 160))
    for i, line in enumerate(lines):
        draw.text((pad, pad // 2 + i * line_height), line, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def step_text(k: int) -> str:
    return "before adaptation" if k == 0 else f"after {k} step{'s' if k > 1 else ''}"


def panel_frames(
    env: gym.Env,
    policy: GaussianMLP,
    params: Params,
    task: dict,
    seed: int,
    title: str,
    returns: list[float],
    k: int,
) -> Iterator[np.ndarray]:
    """Labelled frames ``[H, W, 3]`` of one episode; ``returns[k]`` follows its return."""
    for ret in play(env, policy, params, task, seed):
        returns[k] = ret
        yield label(env.render(), [title, f"{step_text(k)}   return {ret:.1f}"])


def side_by_side(panels: list[Iterator[np.ndarray]], hold: int) -> Iterator[np.ndarray]:
    """Frames ``[H, n * W, 3]`` of ``n`` panels advanced together; a finished panel keeps its
    last frame, and the final frame is repeated ``hold`` times."""
    last: list[np.ndarray] = []
    for frames in zip_longest(*panels):
        last = [new if new is not None else old for new, old in zip_longest(frames, last)]
        yield np.concatenate(last, axis=1)
    for _ in range(hold):
        yield np.concatenate(last, axis=1)


def in_sequence(panels: list[Iterator[np.ndarray]], hold: int) -> Iterator[np.ndarray]:
    """Frames of each panel in turn, each panel's last frame repeated ``hold`` times."""
    for panel in panels:
        for frame in panel:
            yield frame
        for _ in range(hold):
            yield frame  # play() yields at least once, so every panel has a last frame


def write_frames(frames: Iterable[np.ndarray], path: Path, fps: float) -> int:
    """Write frames ``[H, W, 3]`` uint8 to an MP4 (H.264), a GIF, or a PNG (the last frame).

    Returns how many frames the file holds.
    """
    if path.suffix == ".png":
        imageio.imwrite(path, deque(frames, maxlen=1)[0])  # consumes the stream, keeps one
        return 1
    if path.suffix == ".gif":
        writer = imageio.get_writer(path, mode="I", duration=1000 / fps, loop=0)
    else:
        # H.264 in yuv420p needs even sizes: frames are padded by one pixel where needed.
        writer = imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2)
    count = 0
    with writer:
        for frame in frames:
            pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
            writer.append_data(np.pad(frame, pad) if path.suffix == ".mp4" else frame)
            count += 1
    return count


def render_panels(
    learner: Learner,
    params: list[Params],
    task: dict,
    title: str,
    seed: int,
    out: Path,
    layout: str,
    width: int,
    height: int,
) -> tuple[np.ndarray, int]:
    """One rendered episode per parameter set, labelled, into ``out`` (after
    :func:`use_offscreen_gl`). Returns the episodes' returns ``[K + 1]`` and the frames written.
    """
    envs = [make_render_env(learner, width, height) for _ in params]
    try:
        returns = [0.0] * len(params)
        panels = [
            panel_frames(env, learner.policy, p, task, seed, title, returns, k)
            for k, (env, p) in enumerate(zip(envs, params, strict=True))
        ]
        fps = envs[0].metadata.get("render_fps", 30)
        arrange = side_by_side if layout == "side" else in_sequence
        count = write_frames(arrange(panels, hold=int(fps)), out, fps)
    finally:
        for env in envs:
            env.close()
    return np.array(returns), count


def play_live(
    learner: Learner, params: list[Params], task: dict, title: str, seed: int
) -> np.ndarray:
    """Play the panels' episodes one after another in MuJoCo's interactive viewer, in real
    time; returns their returns ``[K + 1]``. Closing the window stops early."""
    import mujoco.viewer  # opens a window: only imported when there is a display

    env = gym.make(
        registered_id(learner.config.env),
        max_episode_steps=horizon_of(learner.config),
        **learner.config.env_kwargs,
    )
    model, data = env.unwrapped.model, env.unwrapped.data
    returns = np.zeros(len(params))
    try:
        with mujoco.viewer.launch_passive(
            model, data, show_left_ui=False, show_right_ui=False
        ) as viewer:
            track = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track")
            if track >= 0:
                viewer.cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
                viewer.cam.fixedcamid = track
            for k, p in enumerate(params):
                for ret in play(env, learner.policy, p, task, seed):
                    returns[k] = ret
                    viewer.sync()
                    time.sleep(env.unwrapped.dt)
                    if not viewer.is_running():
                        return returns
                print(f"{title}  {step_text(k)}: return {returns[k]:.1f}")
    finally:
        env.close()
    return returns


# --- Navigation2D ------------------------------------------------------------------------------


def trajectories(episodes: Episodes) -> list[np.ndarray]:
    """Each episode's positions ``[length + 1, 2]``: the start, then after every step."""
    obs, mask, last = episodes.obs.numpy(), episodes.mask.numpy(), episodes.last_obs.numpy()
    paths = []
    for b in range(obs.shape[1]):
        n = int(mask[:, b].sum())
        paths.append(np.concatenate([obs[:n, b], last[b][None]]))
    return paths


def draw_navigation(
    paths: list[list[np.ndarray]], goal: np.ndarray, returns: np.ndarray, title: str
) -> tuple[Figure, list[list[Line2D]], list[Line2D]]:
    """Panels of trajectories (``paths[k]``: the episodes after ``k`` steps), goal and start
    marked; returns the figure, its lines ``[k][episode]`` and the markers, to animate."""
    points = np.concatenate([np.concatenate(p) for p in paths] + [goal[None]])
    center = (points.max(0) + points.min(0)) / 2
    half = (points.max(0) - points.min(0)).max() / 2 + 0.1
    fig = Figure(figsize=(3 * len(paths), 3.4), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    lines, markers = [], []
    for k, episodes in enumerate(paths):
        ax = fig.add_subplot(1, len(paths), k + 1)
        lines.append([ax.plot(*p.T, lw=1, alpha=0.6, color=f"C{k}")[0] for p in episodes])
        markers += ax.plot(*episodes[0][0], "ko", ms=6, label="start")
        markers += ax.plot(*goal, "r*", ms=14, label="goal")
        ax.set(xlim=(center[0] - half, center[0] + half), ylim=(center[1] - half, center[1] + half))
        ax.set_aspect("equal")
        ax.set_title(f"{step_text(k)}\nmean return {returns[k]:.1f}", fontsize=9)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(loc="lower left", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig, lines, markers


def navigation_output(
    paths: list[list[np.ndarray]], goal: np.ndarray, returns: np.ndarray, title: str, out: Path
) -> tuple[list[Path], int]:
    """Write the trajectories PNG (``out`` with suffix .png) and, for a .gif ``out``, an
    animation where they grow step by step; returns the files and frames per file."""
    fig, lines, markers = draw_navigation(paths, goal, returns, title)
    png = out.with_suffix(".png")
    fig.savefig(png)
    if out.suffix != ".gif":
        return [png], 1
    horizon = max(len(p) for episodes in paths for p in episodes)
    stride = max(1, horizon // 50)  # at most about 50 frames
    fps = 10
    # Blitting: the axes, titles and legend are drawn once, in the PNG's layout; each frame
    # redraws only the lines and markers (a full draw per frame is ~30x slower).
    fig.set_layout_engine("none")
    animated = [line for panel in lines for line in panel] + markers
    for artist in animated:
        artist.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)

    def frames() -> Iterator[np.ndarray]:
        for t in [*range(1, horizon, stride), horizon] + [horizon] * fps:
            fig.canvas.restore_region(background)
            for panel, episodes in zip(lines, paths, strict=True):
                for line, p in zip(panel, episodes, strict=True):
                    line.set_data(*p[:t].T)
            for artist in animated:
                artist.axes.draw_artist(artist)
            yield np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    return [png, out], write_frames(frames(), out, fps)


# --- the command --------------------------------------------------------------------------------


def step_means(stages: list[Episodes]) -> dict[str, np.ndarray]:
    """Each scalar info term's mean per env step over each stage's episodes of the one task:
    ``{key: [K + 1]}``."""
    means = [stage.task_step_means() for stage in stages]
    return {key: np.array([float(m[key][0]) for m in means]) for key in means[0]}


def watch(
    run_dir: str | Path,
    task: dict | None = None,
    steps: int = 1,
    seed: int = 0,
    episodes: int | None = None,
    out: str | Path | None = None,
    layout: str = "side",
    live: bool = False,
    checkpoint: str = "latest",
    width: int = 320,
    height: int = 240,
) -> WatchResult:
    """Adapt the run's policy to one task with ``steps`` gradient steps and show each stage.

    ``task`` (e.g. ``{"velocity": 1.5}``) or, if None, one sampled with ``seed``, which also
    seeds the episodes. ``episodes`` per adaptation step (default: the run's ``episodes``).
    ``out`` (default ``run_dir/watch.mp4``, Navigation2D ``run_dir/watch.png``): .mp4, .gif or
    .png. Every input is checked (:class:`ConfigError`) before any episode is run.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run dir {run_dir} does not exist (expected a folder of metarl train)")
    override_eval(EvalConfig(), steps=steps, seed=seed, episodes=episodes)  # evaluate's rules
    if layout not in LAYOUTS:
        raise ConfigError(f"--layout: must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if min(width, height) < 16:
        raise ConfigError(f"--width, --height: must be >= 16, got {width}x{height}")
    if live and not has_display():
        raise ConfigError(
            "--live needs a display, and DISPLAY and WAYLAND_DISPLAY are unset; "
            "write a video with --out FILE.mp4 instead"
        )
    if live and out is not None:
        raise ConfigError("--live plays in a window and writes no file: drop --out or --live")
    learner = load_learner(run_dir, checkpoint)
    try:
        env_id = learner.config.env
        family = learner.family
        navigation = isinstance(family, Navigation2DEnv)
        if not navigation and "rgb_array" not in family.metadata.get("render_modes", []):
            raise ConfigError(f"{env_id} has no rgb_array render mode: nothing to watch")
        if live and not isinstance(family, MujocoEnv):
            raise ConfigError(f"--live: only for MuJoCo families, not {env_id}; use --out")
        suffixes = NAVIGATION_SUFFIXES if navigation else RENDER_SUFFIXES
        default = "watch.png" if navigation else "watch.mp4"
        out = run_dir / default if out is None else Path(out)
        if not live and out.suffix not in suffixes:
            raise ConfigError(
                f"--out {out}: {env_id} can be written as {', '.join(suffixes)}, "
                f"not {out.suffix or 'a file without suffix'}"
            )
        if task is not None:
            task = check_task(task, family, env_id)
        if not (navigation or live):
            use_offscreen_gl()

        reseed(learner, seed)
        if task is None:
            task = family.sample_tasks(1, learner.rng)[0]
        episodes = learner.config.episodes if episodes is None else episodes
        result = adapt_to_tasks(learner, [task], steps, episodes)
        returns = result.returns[:, 0]
        terms = step_means(result.episodes)
        title = f"{env_id.split('/')[-1]}  {format_task(task)}"
        if not live:
            out.parent.mkdir(parents=True, exist_ok=True)
        if navigation:
            paths = [trajectories(eps) for eps in result.episodes]
            goal = np.asarray(task["goal"], dtype=np.float64)
            written, count = navigation_output(paths, goal, returns, title, out)
            return WatchResult(task, written, returns, None, count, terms)
        if live:
            shown = play_live(learner, result.params, task, title, seed)
            return WatchResult(task, [], returns, shown, 0, terms)
        shown, count = render_panels(
            learner, result.params, task, title, seed, out, layout, width, height
        )
        return WatchResult(task, [out], returns, shown, count, terms)
    finally:
        learner.sampler.close()
