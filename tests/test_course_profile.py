"""The course profile, as a GPU user runs it - without the hub.

A loopback server that speaks the hub's HTTP API (``tests/stand_in_hub.py``) serves labkit's tiny artifacts under
the course ids; ``HF_ENDPOINT`` points at it, the network guard stays on (loopback only) and ``LABKIT_SIZES=smoke``
shrinks every count while keeping the course ids and code path (the ``course_env`` fixture in conftest.py).

What runs, and why this much (the suite's CPU budget allows ~150 s for all of it):

* every loader, in one process: the six roles by hub id, their tokenizers, label names and chat template, the
  data set in the hub copy's CSV layout, the ``auto`` probe reaching the loopback hub (cheap: ~10 s);
* notebooks 01 and 02 top to bottom in the course profile (their cells are where the course path differed and
  crashed: tokenizers by hub id, the masked LM's accuracy, the greedy answer's least certain step);
* every other notebook's set-up: its cells from the top through the first one that loads a role, all in one kernel
  (imports paid once). Those cells load by hub id and read the course sizes and settings. Two set-ups are cut
  short because their first loading cell does fixed-size work that ``LABKIT_SIZES`` does not reach
  (:data:`STOP_BEFORE_LOADING`); running every notebook whole in the course profile costs several minutes of CPU,
  more than the budget.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"

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


@pytest.fixture(scope="module")
def loaded(course_env):
    """Run every loader once in a fresh process with the course environment; the facts it reports, as a dict."""
    done = subprocess.run([sys.executable, "-c", PROBE], env=course_env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("FACTS ")]
    assert done.returncode == 0 and lines, f"the loaders failed in the course profile:\n{done.stderr[-4000:]}"
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


def _execute(nb, env, timeout: int = 900):
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, startup_timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(SOLUTIONS)}}).execute(env=env)
    return nb


def _text(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)


@pytest.mark.parametrize("name", ["01_pretraining", "02_prompts"])
def test_notebook_runs_top_to_bottom_in_the_course_profile(name, course_env):
    nb = _execute(nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4), course_env)
    banner = _text(nb)
    assert "labkit profile: course" in banner and "sizes: smoke" in banner


# Set-ups cut short, run up to (not including) their first loading cell: that cell does fixed-size work the size
# override does not shrink. Their owners can size it with config.size and drop the entry.
STOP_BEFORE_LOADING = {
    "06_preference": "its first loading cell scores all 30 held-out preference pairs with the LLM (~35 CPU s)",
    "08_optimization": "its first cell embeds 800 training dialogues whatever the sizes (~50 CPU s)",
}
LOADS = re.compile(r"\b(load_(summarizer|llm|embedder|reward_model|dialogsum|masked_lm|encoder|tokenizer)"
                   r"|instruct_summarizer)\(")
RUN_IN_FULL = ("01_pretraining", "02_prompts")


def set_up_cells(path: Path) -> list[str]:
    """A notebook's code cells from the top through its first cell that loads a role (see STOP_BEFORE_LOADING)."""
    code = [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    first = next((i for i, source in enumerate(code) if LOADS.search(source)), len(code) - 1)
    return code[:first] if path.stem in STOP_BEFORE_LOADING else code[:first + 1]


def test_every_other_notebooks_set_up_runs_in_the_course_profile(course_env):
    from nbclient.exceptions import CellExecutionError

    notebooks = sorted(p for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb") if p.stem not in RUN_IN_FULL)
    combined = nbformat.v4.new_notebook()
    for path in notebooks:
        combined.cells.append(nbformat.v4.new_code_cell(f"%reset -f\nprint('set-up of {path.stem}')"))
        for i, source in enumerate(set_up_cells(path)):
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata["origin"] = f"{path.name}, code cell {i}"
            combined.cells.append(cell)
    try:
        _execute(combined, course_env)
    except CellExecutionError as err:
        failed = next((c for c in combined.cells if any(o.get("output_type") == "error" for o in c.outputs)), None)
        where = failed.metadata.get("origin", "?") if failed is not None else "?"
        pytest.fail(f"{where} fails in the course profile:\n{str(err)[-3000:]}")
    text = _text(combined)
    assert "labkit profile: course" in text and all(f"set-up of {p.stem}" in text for p in notebooks)
