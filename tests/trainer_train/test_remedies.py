"""Remedies against collapse: frequency/presence penalties change the logits the tiny model samples
from; the n-gram penalty, truncated_reward and the shorter tie-break change the reward of real
completions scored by the real sandbox on a real ARC task; arc-v0 gives -1 to code that does not
parse; a rollback can switch a remedy on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jobs import rundir
from trainer import data, encoders, grpo_data
from trainer.grpo_reward import TIE_BREAK_BONUS, ArcReward, Shaping, repeated_ngram_share, shape_rewards
from trainer.guard import apply_changes

from .helpers import EOS, FLIP_LR, FLIP_UD, completions, program, run_trainer

pytestmark = pytest.mark.timeout(400)
# a program that solves nothing, padded with the kind of loop collapsed runs produce
LOOP = program(
    "    # in a pattern in a pattern in a pattern in a pattern in a pattern in a pattern\n"
    "    return np.flipud(input_grid)"
)


@pytest.fixture(scope="module")
def env(tiny_model_dir):
    from transformers import AutoTokenizer

    from trainer.sandbox import Sandbox

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    mirror = next(t for t in data.load_tasks("arc1/train") if t.task_id == "67a3c6ac")  # mirror left-right
    rows = grpo_data.PromptRows([mirror], 2, encoders.get_encoder("digits"), tok, seed=0, augment=False)
    with Sandbox(workers=2, timeout_s=2.0, memory_mb=512) as sb:
        yield SimpleNamespace(tok=tok, rows=rows, sandbox=sb)


def _score(env, texts, reward_name="arc-v2-no-pixel-score", shaping=None, row_ids=None, truncated=None):
    ids = [env.tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    truncated = truncated or [False] * len(texts)
    ids = [i if tr else i + [EOS] for i, tr in zip(ids, truncated)]
    reward = ArcReward(env.rows, env.sandbox, reward_name, files=None, eos_ids=[EOS], shaping=shaping)
    return reward(
        prompts=["p"] * len(texts),
        completions=texts,
        completion_ids=ids,
        row_id=row_ids or [0] * len(texts),
        trainer_state=SimpleNamespace(global_step=0),
    ), ids


def test_defaults_change_nothing(env):
    plain, _ = _score(env, [FLIP_LR, LOOP, "no code"])
    shaped, _ = _score(env, [FLIP_LR, LOOP, "no code"], shaping=Shaping())
    assert plain == shaped == [10.0, 1.0, 0.0]


def test_ngram_penalty_lowers_the_reward_of_a_looping_program(env):
    shaping = Shaping(ngram_penalty=2.0, ngram_size=3)
    scores, ids = _score(env, [FLIP_UD, LOOP], shaping=shaping)
    base, _ = _score(env, [FLIP_UD, LOOP])
    assert base[0] == base[1] == 1.0  # both run, neither solves: the ARC reward cannot tell them apart
    share = [repeated_ngram_share(i, 3) for i in ids]
    assert share[1] > share[0] + 0.1
    assert scores == pytest.approx([1.0 - 2.0 * share[0], 1.0 - 2.0 * share[1]])
    assert scores[1] < scores[0]


def test_truncated_reward_replaces_the_score_of_cut_completions_only(env):
    # a completion cut at the limit may still hold a runnable program (and a full ARC reward)
    scores, _ = _score(
        env, [FLIP_LR, FLIP_LR, "no code"], shaping=Shaping(truncated_reward=-0.5), truncated=[False, True, True]
    )
    assert scores == [10.0, -0.5, -0.5]


def test_tie_break_orders_a_group_of_equal_rewards_by_length(env):
    short, long_ = (
        FLIP_UD,
        program("    grid = np.array(input_grid)\n    grid = grid.copy()\n    return np.flipud(grid)"),
    )
    shaping = Shaping(tie_break="shorter", max_completion_length=200)
    # group 1 (row 0): equal ARC rewards -> shorter earns more; group 2 (row 1): different -> untouched
    scores, ids = _score(env, [short, long_, FLIP_LR, FLIP_UD], shaping=shaping, row_ids=[0, 0, 1, 1])
    assert scores[0] > scores[1] > 1.0
    assert scores[0] - 1.0 == pytest.approx(TIE_BREAK_BONUS * (1 - len(ids[0]) / 200))
    assert scores[2:] == [10.0, 1.0]
    assert max(scores[:2]) - 1.0 < TIE_BREAK_BONUS  # never as much as a real reward difference


def test_arc_v0_gives_minus_one_to_code_that_does_not_parse(env):
    syntax_error = "\ndef transform(input_grid)\n    return input_grid\n```\n"
    crash = program("    return undefined_name")
    v0, _ = _score(env, [FLIP_LR, "no code at all", syntax_error, crash, FLIP_UD], reward_name="arc-v0")
    v1, _ = _score(env, [FLIP_LR, "no code at all", syntax_error, crash, FLIP_UD], reward_name="arc-v1")
    assert v0[:4] == [10.0, -1.0, -1.0, 0.0]
    assert v0[4] == v1[4] and 1.0 < v0[4] < 10.0  # pixel score kept, as in arc-v1
    assert v1[1] == v1[2] == 0.0


def test_shape_rewards_order_truncation_after_penalty():
    out = shape_rewards(
        [5.0, 5.0],
        [[1, 2, 1, 2, 1, 2], [1, 2, 3, 4]],
        [True, False],
        [0, 1],
        Shaping(ngram_penalty=1.0, ngram_size=2, truncated_reward=0.0),
    )
    assert out[0] == 0.0  # truncated: the chosen value, whatever the penalty said
    assert out[1] == 5.0  # no repeated 2-gram


def test_rollback_can_switch_a_remedy_on():
    params = {"learning_rate": 1e-4, "frequency_penalty": 0.0, "tie_break": "off", "truncated_reward": None}
    changes = {"learning_rate": 0.5, "frequency_penalty": "=0.5", "tie_break": "shorter", "truncated_reward": "=-1"}
    assert apply_changes(params, changes) == {
        "learning_rate": 5e-5,
        "frequency_penalty": 0.5,
        "tie_break": "shorter",
        "truncated_reward": -1,
    }
    assert apply_changes(params, {"frequency_penalty": 2.0}) == {"frequency_penalty": 0.0}  # a factor of 0 stays 0


# -- logits ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()


def test_processor_subtracts_per_generated_token_not_prompt(model):
    import torch

    from trainer.logits import frequency_presence_processor

    ids = torch.tensor([[7, 7, 9, 11, 11, 11, 12]])  # prompt = first 3 columns
    scores = torch.zeros(1, model.config.vocab_size)
    out = frequency_presence_processor(3, 0.5, 0.25)(ids, scores.clone())
    assert out[0, 11].item() == pytest.approx(-(3 * 0.5 + 0.25))
    assert out[0, 12].item() == pytest.approx(-(0.5 + 0.25))
    assert out[0, 7].item() == 0.0 and out[0, 9].item() == 0.0  # prompt tokens are not penalised
    assert int((out != 0).sum()) == 2


def _greedy(model, tok, prompt, penalties):
    import torch

    from trainer.logits import penalized_generate

    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    with penalized_generate(model, *penalties), torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=40,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=None,
        )
    return out[0, ids.shape[1] :].tolist()


def test_penalties_change_what_the_tiny_model_generates(model, env):
    prompt = env.rows.prompt(0)
    plain = _greedy(model, env.tok, prompt, (0.0, 0.0))
    assert "generate" not in vars(model)  # the wrapper is gone after the block
    penalised = _greedy(model, env.tok, prompt, (2.0, 2.0))
    strong = _greedy(model, env.tok, prompt, (0.0, 1000.0))
    assert len(set(plain)) < len(plain)  # the untrained model loops
    assert penalised != plain
    assert len(set(penalised)) > len(set(plain))
    assert len(set(strong)) == len(strong)  # a huge presence penalty: no token twice
    assert _greedy(model, env.tok, prompt, (0.0, 0.0)) == plain


# -- a real GRPO run with every remedy on -------------------------------------------------------


@pytest.mark.slow
def test_grpo_run_with_remedies(tmp_path, small_grpo_spec):
    run_dir = tmp_path / "run"
    remedies = dict(frequency_penalty=0.5, presence_penalty=0.5, reward_ngram_penalty=1.0, reward_ngram_size=2)
    remedies.update(truncated_reward=-0.25, tie_break="shorter")
    spec = small_grpo_spec(
        run_dir, max_steps=2, save_steps=10, reward_name="arc-v0", max_completion_length=16, **remedies
    )
    spec.write()
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = completions(run_dir)
    assert len(rows) == 2 * 4
    for r in rows:
        if r["truncated"]:
            assert r["reward"] == -0.25
        else:
            assert r["reward"] <= r["reward_arc"] + TIE_BREAK_BONUS
        if r["error"] == "parse":
            assert r["reward_arc"] == -1.0
    assert any(r["truncated"] for r in rows)  # 16 tokens of an untrained model: cut
    evs = rundir.read_jsonl(run_dir / rundir.EVENTS)
    assert evs[-1]["event"] == rundir.EV_STOPPED and evs[-1]["reason"] == "completed"


@pytest.mark.parametrize("backend", ["trl", "merged", "merged-cudagraph"])
def test_grpo_trainer_generates_with_the_penalties(tmp_path, small_grpo_spec, backend):
    """ArcGRPOTrainer's own generation (TRL's transformers path, and the fast merged-copy path)
    applies the penalties."""
    from trainer import grpo

    def generate(penalties):
        import torch

        frequency, presence = penalties
        sampling = dict(temperature=0.05, max_completion_length=24, generation_backend=backend)
        spec = small_grpo_spec(
            tmp_path / f"r{presence}", max_steps=1, frequency_penalty=frequency, presence_penalty=presence, **sampling
        )
        p = spec.typed_params()
        setup = grpo.setup_training(p, tmp_path, lambda *a, **k: None)
        trainer = grpo.build_trainer(
            setup,
            lambda **k: [0.0] * len(k["completions"]),
            [],
            None,
            p.learning_rate,
            (p.frequency_penalty, p.presence_penalty),
        )
        ids = setup.tokenizer(setup.rows.prompt(0), add_special_tokens=False)["input_ids"]
        torch.manual_seed(0)
        out, _ = trainer._generate_single_turn([ids], None, {}, 1)
        return out[0]

    plain, penalised = generate((0.0, 0.0)), generate((0.0, 2.0))
    assert len(set(plain)) < len(plain)
    assert len(set(penalised)) > len(set(plain))
