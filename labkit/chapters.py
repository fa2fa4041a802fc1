"""The course's chapters, in order: one slug each, shared by the notebook, its topic module and its checks.

Chapter ``08`` is ``optimization``: ``solutions/08_optimization.ipynb`` (and its lab), ``labkit/optimization.py``
and ``labkit/checks/optimization.py``. A few chapters also lean on shared toolbox modules named by concept
(``prompts``, ``generation``, ``metrics``, ``finetune``); :data:`CHAPTERS` lists them beside the topic module.
This is the one table of chapters: the checks namespace, the grader, ``labkit exercises`` and the tests read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    number: str  # "08"
    slug: str  # "optimization": notebook NN_<slug>.ipynb, labkit/<slug>.py, labkit/checks/<slug>.py
    title: str
    uses: tuple[str, ...] = ()  # shared labkit modules the chapter's lesson leans on, besides its own

    @property
    def notebook(self) -> str:
        """The notebook's file name, the same in solutions/ and labs/."""
        return f"{self.number}_{self.slug}.ipynb"

    @property
    def module(self) -> str:
        return f"labkit.{self.slug}"

    @property
    def checks_module(self) -> str:
        return f"labkit.checks.{self.slug}"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("00", "lifecycle", "Setup and the generative-AI project lifecycle", ("train",)),
    Chapter("01", "pretraining", "Transformers and pre-training"),
    Chapter("02", "prompts", "Prompting and generation (Lab 1)", ("generation", "metrics")),
    Chapter("03", "finetune", "Fine-tuning: full, LoRA, prompt tuning (Lab 2)", ("metrics",)),
    Chapter("04", "evaluation", "Evaluation and benchmarks", ("metrics",)),
    Chapter("05", "rlhf", "RLHF: detoxifying with PPO (Lab 3)", ("metrics",)),
    Chapter("06", "preference", "Preference tuning: DPO and Constitutional AI"),
    Chapter("07", "online_rl", "Reinforcement learning today: GRPO, RLOO and verifiable rewards", ("rlhf",)),
    Chapter("08", "optimization", "Model optimization: quantization, distillation, pruning"),
    Chapter("09", "rag", "Retrieval augmented generation"),
    Chapter("10", "agents", "Reasoning and acting: chain-of-thought, PAL, ReAct", ("shop", "sandbox")),
    Chapter("11", "sagemaker", "Deploying with SageMaker JumpStart", ("emulator",)),
    Chapter("12", "cheatsheet", "The lifecycle cheat sheet, measured", ("finetune", "rlhf", "optimization")),
)

BY_NUMBER: dict[str, Chapter] = {chapter.number: chapter for chapter in CHAPTERS}
BY_SLUG: dict[str, Chapter] = {chapter.slug: chapter for chapter in CHAPTERS}


def chapter_of(notebook: str) -> Chapter:
    """The chapter of a notebook file name or stem (``"08_optimization.ipynb"``, ``"08_optimization"``, ``"08"``)."""
    number = str(notebook)[:2]
    if number not in BY_NUMBER:
        raise KeyError(f"{notebook!r} is not a chapter of the course: notebooks are named "
                       f"{', '.join(c.notebook for c in CHAPTERS[:3])}, ...")
    return BY_NUMBER[number]
