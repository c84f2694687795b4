"""EYEDIAP's recording sessions, and how a SynthGaze scene becomes participants, sessions and frames.

The release's session list, as its own script ``Scripts/EYEDIAP_misc.py`` builds it (copy read:
koyukan/WebEyeTrack @ 1e17e3e, ``python/webeyetrack/datasets/eyediap.py``, the ``sessions`` loop):
16 participants; participants 1-11 recorded condition A with the targets ``DS`` (discrete screen
target), ``CS`` (continuous screen target) and ``FT`` (floating target, a ball); 12 and 13 only
condition B with ``FT``; 14-16 both (A with DS, CS, FT; B with FT); every target with a static
(``S``) and a moving (``M``) head.  That is 94 sessions, 56 of them screen-target ones (the 14
participants 1-11 and 14-16 x {CS, DS} x {S, M}), named ``<participant>_<A|B>_<CS|DS|FT>_<S|M>``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gazebench.datasets.cards import Card, load_card

if TYPE_CHECKING:
    from gazebench.synth.scene import Scene

#: a session folder's name: participant, condition (A/B), target (CS/DS/FT), head (S/M)
SESSION = re.compile(r"^(\d+)_([AB])_(CS|DS|FT)_([SM])$")
SCREEN_TARGETS = ("CS", "DS")
#: the video frames between two of GazeHub's samples (lines i with (i - 1) % 15 == 0: frames 0, 15, ...)
FRAME_STEP = 15
BALL_TARGET = "FT"


def release_sessions() -> list[str]:
    """The 94 session names of the release, in the order of its script."""
    out = []
    for p in range(1, 17):
        conditions = ["A"] if p <= 11 else ["B"] if p <= 13 else ["A", "B"]
        for c in conditions:
            targets = ["DS", "CS", "FT"] if c == "A" else ["FT"]
            out += [f"{p}_{c}_{t}_{h}" for t in targets for h in ("S", "M")]
    return out


#: participants with screen-target sessions (GazeHub's 14 people)
SCREEN_PARTICIPANTS = tuple(
    sorted({int(s.split("_")[0]) for s in release_sessions() if s.split("_")[2] in SCREEN_TARGETS})
)


def subject_id(participant: int) -> str:
    """GazeHub's person name, gazebench's subject id: ``p1`` ... ``p16`` (no zero padding)."""
    return f"p{participant}"


def synth_participants(card: Card, n: int) -> list[int]:
    """The participant numbers the first ``n`` SynthGaze subjects stand for: one from each of the
    card's four test groups in turn (fold 0's first, fold 1's first, ...), so that every fold of a
    small tree has test, validation and training subjects; at most the 14 screen participants."""
    groups = [[int(s[1:]) for s in card.split_rule(fold).test] for fold in card.folds()]
    order = [g[i] for i in range(max(map(len, groups))) for g in groups if i < len(g)]
    return order[:n]


def screen_sessions(participant: int) -> list[str]:
    """The participant's four screen-target sessions, in the order SynthGaze sequences fill them."""
    return [f"{participant}_A_{t}_{h}" for t in sorted(SCREEN_TARGETS, reverse=True) for h in ("S", "M")]


def plan_samples(scene: Scene) -> list[dict | None]:
    """Per scene row: ``{"subject", "k", "session", "frame"}`` of the face it becomes (frame = the
    video frame number, 0-based), or None for the subjects beyond the participants available."""
    f = scene.frames
    numbers_ = synth_participants(load_card("eyediap"), len(scene.subjects))
    person = {s.id: n for s, n in zip(scene.subjects, numbers_)}
    out: list[dict | None] = [None] * len(f)
    counts: dict[str, int] = {}
    sequences: dict[str, list[str]] = {}
    for r, (subject, sequence) in enumerate(zip(f["subject"], f["sequence"])):
        if subject not in person:
            continue
        seqs = sequences.setdefault(subject, [])
        if sequence not in seqs:
            seqs.append(sequence)
        session = screen_sessions(person[subject])[seqs.index(sequence) % 4]
        k = counts[subject] = counts.get(subject, 0) + 1
        j = counts[session] = counts.get(session, 0) + 1
        out[r] = {"subject": subject_id(person[subject]), "k": k, "session": session, "frame": FRAME_STEP * (j - 1)}
    return out
