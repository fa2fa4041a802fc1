"""The course profile, as a GPU user runs it - without the hub.

A loopback server that speaks the hub's HTTP API (``tests/stand_in_hub.py``) serves labkit's tiny artifacts under
the course ids; ``HF_ENDPOINT`` points at it, the network guard stays on (loopback only) and ``LABKIT_SIZES=smoke``
shrinks every count while keeping the course ids and code path (the ``course_env`` fixture in conftest.py).

What runs, and why this much (the suite's CPU budget allows ~150 s for all of it):

* notebooks 01 and 02 top to bottom, each in its own kernel (their cells are where the course path differed and
  crashed: tokenizers by hub id, the masked LM's accuracy, the greedy answer's least certain step);
* one more kernel for the rest, so imports are paid once: first every loader (the six roles by hub id, their
  tokenizers, label names and chat template, the data set in the hub copy's CSV layout, the ``auto`` probe
  reaching the loopback hub), then every other notebook's set-up - its cells from the top through the first one
  that loads a role - with a fresh namespace for each. Those cells load by hub id and read the course sizes and
  settings. Two set-ups stop before their first loading cell, which does fixed-size work ``LABKIT_SIZES`` does
  not reach (:data:`STOP_BEFORE_LOADING`). Running every notebook whole in the course profile costs several
  minutes of CPU, more than the budget.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
RUN_IN_FULL = ("01_pretraining", "02_prompts")
# Set-ups cut short, run up to (not including) their first loading cell: that cell does fixed-size work the size
# override does not shrink. Their owners can size it with config.size and drop the entry.
STOP_BEFORE_LOADING = {
    "06_preference": "its first loading cell scores all 30 held-out preference pairs with the LLM (~35 CPU s)",
    "08_optimization": "its first cell embeds 800 training dialogues whatever the sizes (~50 CPU s)",
}
LOADS = re.compile(r"\b(load_(summarizer|llm|embedder|reward_model|dialogsum|masked_lm|encoder|tokenizer)"
                   r"|instruct_summarizer)\(")

PROBE = r"""
import json

from transformers import GenerationConfig

from labkit import config, data, generation, metrics, models, pretraining, rag

facts = {"profile": [config.get_profile().name, config.get_profile().scale], "auto": config.choose_auto()[0],
         "sources": {name: models.source(name) for name in config.ROLES}}
dialogues = data.load_dialogsum()
facts["dialogues"] = {split: [len(rows), rows.column_names] for split, rows in dialogues.items()}
t5, t5_tokenizer = models.load_summarizer()
facts["summarizer"] = {"class": type(t5).__name__, "sentinel": "<extra_id_0>" in t5_tokenizer.get_vocab(),
                       "output": generation.generate(t5, t5_tokenizer, "Hello", GenerationConfig(max_new_tokens=4))}
reward, _ = models.load_reward_model()
facts["reward_model"] = {"labels": {str(k): v for k, v in reward.config.id2label.items()},
                         "not_hate": metrics.find_label(reward.config)}
embedder = models.load_embedder()
facts["embedder"] = embedder.encode(["a sentence"]).shape[-1]
encoder, wordpiece = pretraining.load_encoder()
facts["encoder"] = {"class": type(encoder).__name__, "attention": encoder.config._attn_implementation}
mlm, mlm_tokenizer = pretraining.load_masked_lm()
facts["masked_lm"] = {"mask": mlm_tokenizer.mask_token,
                      "fills": len(pretraining.fill_mask(mlm, mlm_tokenizer, "Good [MASK], sir.", k=3))}
llm, llm_tokenizer = models.load_llm()
facts["llm"] = {"chat": generation.chat_prompt(llm_tokenizer, "Hi").count("Hi"), "padding": llm_tokenizer.padding_side}
facts["tokenizers"] = sorted(type(models.load_tokenizer(name)).__name__ for name in ("embedder", "summarizer", "llm"))
facts["langchain"] = len(rag.langchain_embeddings().embed_query("a question"))
print("FACTS " + json.dumps(facts))
"""


def set_up_cells(path: Path) -> list[str]:
    """A notebook's code cells from the top through its first cell that loads a role (see STOP_BEFORE_LOADING)."""
    code = [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    first = next((i for i, source in enumerate(code) if LOADS.search(source)), len(code) - 1)
    return code[:first] if path.stem in STOP_BEFORE_LOADING else code[:first + 1]


def _execute(nb, env, timeout: int = 900, allow_errors: bool = False):
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, startup_timeout=600, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(SOLUTIONS)}}).execute(env=env)
    return nb


def _text(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)


def _errors(nb) -> list[str]:
    """Each error a cell raised: where it comes from, the exception and the end of its traceback."""
    return [f"{cell.metadata.get('origin', '?')}: {out['ename']}: {out['evalue']}\n"
            + "\n".join(out["traceback"])[-2000:]
            for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out["output_type"] == "error"]


@pytest.fixture(scope="module")
def course_kernel(course_env):
    """One kernel in the course environment: every loader (:data:`PROBE`), then every other notebook's set-up.

    Errors do not stop the run (each notebook's set-up is judged on its own); cells carry their origin.
    """
    combined = nbformat.v4.new_notebook()
    probe = nbformat.v4.new_code_cell(PROBE)
    probe.metadata["origin"] = "the loaders"
    combined.cells.append(probe)
    for path in sorted(p for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb") if p.stem not in RUN_IN_FULL):
        combined.cells.append(nbformat.v4.new_code_cell(f"%reset -f\nprint('set-up of {path.stem}')"))
        for i, source in enumerate(set_up_cells(path)):
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata["origin"] = f"{path.name}, code cell {i}"
            combined.cells.append(cell)
    return _execute(combined, course_env, allow_errors=True)


@pytest.fixture(scope="module")
def loaded(course_kernel):
    """What every loader reported in the course profile, as a dict."""
    lines = [line for out in course_kernel.cells[0].outputs for line in out.get("text", "").splitlines()
             if line.startswith("FACTS ")]
    assert lines, "the loaders failed in the course profile:\n" + "\n".join(_errors(course_kernel)[:1])
    return json.loads(lines[-1][len("FACTS "):])


def test_every_role_loads_from_its_course_id_through_the_hub_api(loaded, stand_in_hub):
    from labkit import config

    assert loaded["profile"] == ["course", "smoke"]
    courses = {name: sources["course"].id for name, sources in config.ROLES.items()}
    assert loaded["sources"] == courses  # hub ids, not local folders
    asked = {path for _, path, _ in stand_in_hub.requests}
    for name, repo_id in courses.items():
        prefix = "/datasets/" if name == "dialogues" else "/"
        assert any(p.startswith(f"{prefix}{repo_id}/resolve/") for p in asked), f"{repo_id} was never downloaded"
    assert all(status in (200, 206, 404) for *_, status in stand_in_hub.requests)


def test_the_auto_profile_finds_the_hub_on_loopback_with_the_guard_on(loaded):
    assert loaded["auto"] == "course"


def test_loaded_models_keep_the_course_contract(loaded):
    assert loaded["dialogues"] == {split: [n, ["id", "dialogue", "summary", "topic"]]
                                   for split, n in (("train", 1000), ("validation", 100), ("test", 200))}
    assert loaded["summarizer"]["class"] == "T5ForConditionalGeneration" and loaded["summarizer"]["sentinel"]
    assert isinstance(loaded["summarizer"]["output"], str)
    assert loaded["reward_model"] == {"labels": {"0": "nothate", "1": "hate"}, "not_hate": 0}
    assert loaded["embedder"] == 384 and loaded["langchain"] == 384
    assert loaded["encoder"] == {"class": "BertModel", "attention": "eager"}
    assert loaded["masked_lm"] == {"mask": "[MASK]", "fills": 3}
    assert loaded["llm"] == {"chat": 1, "padding": "left"}
    assert len(loaded["tokenizers"]) == 3


@pytest.mark.parametrize("name", RUN_IN_FULL)
def test_notebook_runs_top_to_bottom_in_the_course_profile(name, course_env):
    nb = _execute(nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4), course_env)
    banner = _text(nb)
    assert "labkit profile: course" in banner and "sizes: smoke" in banner


def test_every_other_notebooks_set_up_runs_in_the_course_profile(course_kernel):
    errors = _errors(course_kernel)
    assert not errors, "fails in the course profile:\n" + "\n\n".join(errors)
    text = _text(course_kernel)
    others = sorted(p.stem for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb") if p.stem not in RUN_IN_FULL)
    assert "labkit profile: course" in text and all(f"set-up of {name}" in text for name in others)


def test_the_tiny_only_guard_exempts_these_kernels_and_nothing_else(course_kernel, stand_in_hub):
    from conftest import COURSE_KERNEL_PURPOSE, exempt_course_kernel  # tests/ is on sys.path under pytest

    logged = [line.split() for line in Path(os.environ["LABKIT_PROFILE_LOG"]).read_text().splitlines()]
    ours = [line for line in logged if line[2:3] == ["kernel"] and line[1] == "course"]
    assert ours and all(exempt_course_kernel(line) for line in ours)
    assert ours[0][3:] == [COURSE_KERNEL_PURPOSE, stand_in_hub.endpoint]
    pid = ours[0][0]
    assert not exempt_course_kernel([pid, "course", "kernel", "-", stand_in_hub.endpoint])  # not started by us
    assert not exempt_course_kernel([pid, "course", "kernel", COURSE_KERNEL_PURPOSE, "https://huggingface.co"])
    assert not exempt_course_kernel([pid, "tiny", "kernel", COURSE_KERNEL_PURPOSE, stand_in_hub.endpoint])
    assert not exempt_course_kernel([pid, "course", "kernel"])
