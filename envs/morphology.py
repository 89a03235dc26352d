"""Changing a robot's limbs in its model description (an `mujoco.MjSpec`), before it is compiled.

A limb's length cannot be changed on a compiled `MjModel`: its mass and inertia, the contact
bounds and the positions of everything attached to it follow from the geometry when MuJoCo
compiles. So a morphology gap edits the spec of the task's own XML (read, never written) and the
env compiles it into a model of its own.

Two edits cover every ODRL morphology file (envs/odrl_levels.py lists which):

* `Limb`: a capsule's length times ``s`` about a joint's position (the point that stays put), its
  radius times ``r``. Whatever else the limb's body carries (child bodies, other geoms, sites)
  moves with the capsule end nearest to it, so a shorter thigh brings the shin along, at the same
  offset from the end as before.
* `Knee`: the joint between two capsules of a leg moved along it, the lower capsule times ``s``
  and the upper one taking up the rest, so the foot stays where it was.

All geometry is worked out in world coordinates at the model's reference pose (qpos0) and written
back in each element's own frame, so it does not matter how the XML places its body frames
(Gymnasium's v5 hopper and walker put a body's frame mid-limb, ODRL's gym-v3 files use global
coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class Limb:
    """A capsule scaled along its axis about the position of ``anchor`` (a joint)."""

    geom: str
    anchor: str


@dataclass(frozen=True)
class Knee:
    """``joint`` moved along the leg from ``upper`` (capsule) into ``lower`` (capsule)."""

    joint: str
    upper: str
    lower: str


Element = Limb | Knee


class _Pose:
    """The reference model at qpos0, its spec elements by id, and frame conversions."""

    def __init__(self, spec: mujoco.MjSpec, model: mujoco.MjModel, kind: str):
        self.model, self.kind = model, kind
        self.data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, self.data)
        self.bodies = {b.id: b for b in spec.bodies}
        self.geoms = {g.id: g for g in spec.geoms}
        self.sites = {s.id: s for s in spec.sites}
        self.joints = {j.id: j for j in spec.joints}

    def id(self, obj: mujoco.mjtObj, name: str, what: str) -> int:
        i = mujoco.mj_name2id(self.model, obj, name)
        if i < 0:
            count = {"geom": self.model.ngeom, "joint": self.model.njnt}[what]
            valid = [n for n in (mujoco.mj_id2name(self.model, obj, k) for k in range(count)) if n]
            raise ValueError(f"gap {self.kind}: no {what} {name!r} in this model; {what}s: {valid}")
        return i

    def capsule(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """The two end points of capsule ``g``'s axis, in world coordinates."""
        if self.model.geom_type[g] != mujoco.mjtGeom.mjGEOM_CAPSULE:
            raise ValueError(f"gap {self.kind}: geom {self.model.geom(g).name!r} is not a capsule, "
                             "so it has no length to scale")
        axis = self.data.geom_xmat[g].reshape(3, 3)[:, 2] * self.model.geom_size[g, 1]
        centre = self.data.geom_xpos[g]
        return centre - axis, centre + axis

    def to_body(self, b: int, vector: np.ndarray) -> np.ndarray:
        """A world displacement expressed in body ``b``'s frame."""
        return self.data.xmat[b].reshape(3, 3).T @ vector

    def move_geom(self, g: int, world_shift: np.ndarray) -> None:
        geom, local = self.geoms[g], self.to_body(self.model.geom_bodyid[g], world_shift)
        if _has_fromto(geom):
            geom.fromto = np.asarray(geom.fromto) + np.concatenate([local, local])
        else:
            geom.pos = np.asarray(geom.pos) + local

    def set_capsule(self, g: int, old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray],
                    radius: float) -> None:
        """Give capsule ``g`` the end points ``new`` (world, same direction as ``old``), its radius times
        ``radius``. Written as increments on the spec's own values, so an edit composes with an
        earlier one that moved the same geom."""
        geom, b = self.geoms[g], self.model.geom_bodyid[g]
        if _has_fromto(geom):
            # The compiled axis may point either way along the fromto, so each written point takes
            # the shift of the old end it is.
            points = np.asarray(geom.fromto).reshape(2, 3)
            old_local = [self.to_body(b, o - self.data.xpos[b]) for o in old]
            shifts = [self.to_body(b, n - o) for o, n in zip(old, new)]
            nearest = [int(np.argmin([np.linalg.norm(p - o) for o in old_local])) for p in points]
            geom.fromto = (points + np.array([shifts[i] for i in nearest])).ravel()
        else:
            length = np.linalg.norm(new[1] - new[0]) / np.linalg.norm(old[1] - old[0])
            geom.pos = np.asarray(geom.pos) + self.to_body(b, (new[0] + new[1] - old[0] - old[1]) / 2)
            geom.size = np.asarray(geom.size) * [1.0, length, 1.0]
        geom.size = np.asarray(geom.size) * [radius, 1.0, 1.0]


def _has_fromto(geom) -> bool:
    # MuJoCo marks an unset fromto with NaN; when set it overrides pos, quat and the half-length.
    return not np.isnan(np.asarray(geom.fromto)[0])


def _first_hinge(model: mujoco.MjModel, body: int) -> int:
    for j in range(model.body_jntadr[body], model.body_jntadr[body] + model.body_jntnum[body]):
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE:
            return j
    return -1


def limb_for_geom(model: mujoco.MjModel, geom: str, kind: str) -> Limb:
    """A geom named directly: scaled about the hinge of its own body, the joint it swings on."""
    g = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, geom)
    if g < 0:
        return Limb(geom, "")  # `_Pose.id` reports the missing geom with the valid names
    hinge = _first_hinge(model, model.geom_bodyid[g])
    if hinge < 0:
        raise ValueError(f"gap {kind}: geom {geom!r} hangs on no hinge joint to scale it about; name a part")
    return Limb(geom, model.joint(hinge).name)


def _scale_limb(pose: _Pose, limb: Limb, length: float, radius: float) -> None:
    model = pose.model
    g = pose.id(mujoco.mjtObj.mjOBJ_GEOM, limb.geom, "geom")
    anchor = pose.data.xanchor[pose.id(mujoco.mjtObj.mjOBJ_JOINT, limb.anchor, "joint")].copy()
    old = pose.capsule(g)
    new = tuple(anchor + length * (end - anchor) for end in old)
    pose.set_capsule(g, old, new, radius)
    body = model.geom_bodyid[g]

    def shift(point: np.ndarray) -> np.ndarray:
        nearest = int(np.argmin([np.linalg.norm(point - end) for end in old]))
        return new[nearest] - old[nearest]

    for child in range(1, model.nbody):
        if model.body_parentid[child] == body and child != body:
            spec_body = pose.bodies[child]
            spec_body.pos = np.asarray(spec_body.pos) + pose.to_body(body, shift(pose.data.xpos[child]))
    for other in range(model.ngeom):
        if model.geom_bodyid[other] == body and other != g:
            pose.move_geom(other, shift(pose.data.geom_xpos[other]))
    for s in range(model.nsite):
        if model.site_bodyid[s] == body:
            site = pose.sites[s]
            site.pos = np.asarray(site.pos) + pose.to_body(body, shift(pose.data.site_xpos[s]))


def _move_knee(pose: _Pose, knee: Knee, length: float, radius: float) -> None:
    if radius != 1.0:
        raise ValueError(f"gap {pose.kind}: a knee part moves a joint and has no radius to scale")
    j = pose.id(mujoco.mjtObj.mjOBJ_JOINT, knee.joint, "joint")
    upper_g = pose.id(mujoco.mjtObj.mjOBJ_GEOM, knee.upper, "geom")
    lower_g = pose.id(mujoco.mjtObj.mjOBJ_GEOM, knee.lower, "geom")
    at = pose.data.xanchor[j].copy()

    def near_far(g: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = pose.capsule(g)
        return (a, b) if np.linalg.norm(a - at) <= np.linalg.norm(b - at) else (b, a)

    upper_near, hip = near_far(upper_g)
    lower_near, foot = near_far(lower_g)
    leg = hip - foot
    reach = np.linalg.norm(leg) / np.linalg.norm(at - foot)
    if not length < reach:
        raise ValueError(f"gap {pose.kind}: a lower limb {length!r} times as long would put the knee past "
                         "the hip; "
                         f"it must be in (0, {reach:.3g}) on this model")
    if np.linalg.norm(np.cross(leg, at - foot)) > 1e-9 * np.linalg.norm(leg) ** 2:
        raise ValueError(f"gap {pose.kind}: joint {knee.joint!r} is not in line with "
                         f"{knee.upper!r} and {knee.lower!r}")
    moved = foot + length * (at - foot)
    pose.set_capsule(upper_g, (upper_near, hip), (moved, hip), 1.0)
    pose.set_capsule(lower_g, (lower_near, foot), (moved, foot), 1.0)
    joint = pose.joints[j]
    joint.pos = np.asarray(joint.pos) + pose.to_body(pose.model.jnt_bodyid[j], moved - at)


def edit_limbs(spec: mujoco.MjSpec, reference: mujoco.MjModel, elements: tuple[Element, ...],
               lengths: tuple[float, ...], radius: float, kind: str) -> None:
    """Apply one length factor per element (and ``radius`` to every limb) to ``spec``, whose
    unedited compilation is ``reference``."""
    pose = _Pose(spec, reference, kind)
    for element, length in zip(elements, lengths, strict=True):
        if isinstance(element, Knee):
            _move_knee(pose, element, length, radius)
        else:
            _scale_limb(pose, element, length, radius)
