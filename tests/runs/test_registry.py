import json
import os
import time

import pytest

from mimo.runs import artifacts
from mimo.runs.registry import Registry, RegistryError, check_run_id, new_run_id, write_json_atomic


def _staged_run(registry: Registry, model: str = "sum", complete: bool = True) -> str:
    run_id = new_run_id(model)
    staging = registry.staging_dir(run_id)
    (staging / "model.keras").write_bytes(b"placeholder weights")
    if complete:
        artifacts.write_json(staging, artifacts.RUN_INFO, {"run_id": run_id, "status": "complete"})
    return run_id


def test_a_published_run_is_listed_and_can_be_made_active(tmp_path):
    registry = Registry(tmp_path)
    run_id = _staged_run(registry)
    assert registry.list_runs() == []  # staging runs are invisible
    run = registry.publish(run_id)
    assert [r.run_id for r in registry.list_runs("sum")] == [run_id]
    assert registry.list_runs("color") == []
    registry.activate(run_id)
    assert registry.active_run("sum") == run
    assert json.loads((tmp_path / "active.json").read_text()) == {"sum": run_id}


def test_an_incomplete_run_is_never_published_or_activated(tmp_path):
    registry = Registry(tmp_path)
    run_id = _staged_run(registry, complete=False)
    with pytest.raises(RegistryError, match="not complete"):
        registry.publish(run_id)
    with pytest.raises(RegistryError):
        registry.activate(run_id)
    assert registry.list_runs() == [] and registry.active_ids() == {}


def test_atomic_json_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "active.json"
    write_json_atomic(path, {"sum": "sum-20260101-000000-aaa"})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(path, {"sum": Unserialisable()})
    assert json.loads(path.read_text()) == {"sum": "sum-20260101-000000-aaa"}
    assert [p.name for p in tmp_path.iterdir()] == ["active.json"]  # no temporary left behind


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "sum-20260101-000000-a/../../x",
        "color",
        "",
        "SUM-20260101-000000-a",
        "sum-20260101-000000-",
    ],
)
def test_run_ids_that_could_escape_the_registry_are_rejected(tmp_path, bad):
    with pytest.raises(RegistryError):
        check_run_id(bad)
    with pytest.raises(RegistryError):
        Registry(tmp_path).run(bad)


def test_missing_active_model_gives_a_clear_error(tmp_path):
    with pytest.raises(RegistryError, match="no active color model"):
        Registry(tmp_path).active_run("color")


def _published(registry: Registry, model: str, recorded_model: str | None = None) -> str:
    """A published run whose run.json and config.json record recorded_model (default: its own)."""
    run_id = new_run_id(model)
    staging = registry.staging_dir(run_id)
    (staging / "model.keras").write_bytes(b"placeholder weights")
    artifacts.write_json(staging, "config.json", {"model": model})
    artifacts.write_json(staging, artifacts.RUN_INFO, {"run_id": run_id, "model": model})
    registry.publish(run_id)
    if recorded_model:  # as if copied by hand: the files disagree with the id
        folder = registry.runs_dir / run_id
        artifacts.write_json(folder, "config.json", {"model": recorded_model})
        artifacts.write_json(
            folder, artifacts.RUN_INFO, {"run_id": run_id, "model": recorded_model}
        )
    return run_id


@pytest.mark.parametrize(
    "content, kind", [("[]", "array"), ("null", "null"), ("42", "number"), ('"x"', "string")]
)
def test_active_json_of_the_wrong_shape_reads_as_nothing_active(tmp_path, content, kind):
    registry = Registry(tmp_path)
    _published(registry, "sum")
    registry.active_file.write_text(content)
    assert registry.active_ids() == {}
    assert f"damaged (a JSON {kind}, not an object)" in registry.active_problem()
    with pytest.raises(RegistryError, match="damaged"):
        registry.active_run("sum")


def test_active_json_as_a_folder_is_reported_and_cannot_be_activated_over(tmp_path):
    registry = Registry(tmp_path)
    run_id = _published(registry, "sum")
    registry.active_file.mkdir()
    assert registry.active_ids() == {} and "is a folder" in registry.active_problem()
    with pytest.raises(RegistryError, match="is a folder"):
        registry.activate(run_id)


def test_a_run_whose_files_name_another_model_is_refused_and_skipped(tmp_path):
    registry = Registry(tmp_path)
    good = _published(registry, "color")
    time.sleep(1.1)  # a newer id
    disguised = _published(registry, "color", recorded_model="sum")
    assert [r.run_id for r in registry.list_runs("color")] == [good]
    with pytest.raises(RegistryError, match="holds a sum model, not a color model"):
        registry.activate(disguised)
    registry.active_file.write_text(json.dumps({"color": disguised}))
    with pytest.raises(RegistryError, match="holds a sum model"):
        registry.active_run("color")


def test_a_staged_run_of_another_model_is_never_published(tmp_path):
    registry = Registry(tmp_path)
    run_id = new_run_id("color")
    staging = registry.staging_dir(run_id)
    artifacts.write_json(staging, artifacts.RUN_INFO, {"run_id": run_id, "model": "sum"})
    with pytest.raises(RegistryError, match="holds a sum model"):
        registry.publish(run_id)
    assert registry.list_runs() == []


def test_run_ids_are_matched_in_full(tmp_path):
    for bad in ("sum-20260101-000000-abc\n", "sum-20260101-000000-abc ", "sum-２０260101-000000-a"):
        with pytest.raises(RegistryError, match="not a valid run id"):
            check_run_id(bad)
    assert check_run_id("sum-20260101-000000-abc") == "sum-20260101-000000-abc"


def test_symlinks_in_runs_are_ignored(tmp_path):
    registry = Registry(tmp_path / "registry")
    outside = Registry(tmp_path / "elsewhere")
    target = outside.runs_dir / _published(outside, "sum")
    registry.runs_dir.mkdir(parents=True)
    link = registry.runs_dir / "sum-29991231-000000-link"
    link.symlink_to(target, target_is_directory=True)
    assert registry.list_runs() == []
    with pytest.raises(RegistryError, match="does not exist"):
        registry.run(link.name)


def test_activate_on_a_registry_that_cannot_be_written_is_one_clear_error(tmp_path, monkeypatch):
    registry = Registry(tmp_path)
    run_id = _published(registry, "sum")
    if os.geteuid() != 0:  # a real read-only folder (root may write anywhere)
        tmp_path.chmod(0o555)
        try:
            with pytest.raises(RegistryError, match="no permission to write"):
                registry.activate(run_id)
        finally:
            tmp_path.chmod(0o755)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("mimo.runs.registry.tempfile.mkstemp", refuse)
    with pytest.raises(RegistryError, match=f"cannot activate {run_id}: no permission"):
        registry.activate(run_id)


def test_stale_staging_folders_are_cleaned(tmp_path):
    registry = Registry(tmp_path)
    left = _staged_run(registry, complete=False)
    (registry.tmp_dir / "stray-file").write_text("x")
    assert sorted(registry.clean_stale_staging()) == sorted([left, "stray-file"])
    assert list(registry.tmp_dir.iterdir()) == []


# -- what people do with runs from the Dashboards page ----------------------------------------


def _runs(registry: Registry, model: str, count: int) -> list[str]:
    """`count` published runs of `model`, oldest first (ids one second apart)."""
    ids = []
    for number in range(count):
        run_id = f"{model}-2026010{number + 1}-000000-r{number}"
        staging = registry.staging_dir(run_id)
        artifacts.write_json(staging, "config.json", {"model": model})
        artifacts.write_json(staging, artifacts.RUN_INFO, {"run_id": run_id, "model": model})
        registry.publish(run_id)
        ids.append(run_id)
    return ids


def test_rollback_restores_the_previously_active_run_step_by_step(tmp_path):
    registry = Registry(tmp_path)
    first, second, third = _runs(registry, "color", 3)
    assert registry.previous_active("color") is None
    with pytest.raises(RegistryError, match="no earlier active run"):
        registry.rollback("color")
    for run_id in (first, second, third):
        registry.activate(run_id)
    assert [e["run_id"] for e in registry.activation_history("color")] == [first, second, third]
    assert registry.previous_active("color") == second

    assert registry.rollback("color").run_id == second
    assert registry.active_ids()["color"] == second
    assert Registry(tmp_path).rollback("color").run_id == first  # read back from the file
    assert registry.previous_active("color") is None
    with pytest.raises(RegistryError, match="cannot roll back the color model"):
        registry.rollback("color")
    assert registry.active_ids() == {"color": first}


def test_rollback_skips_deleted_runs_and_never_touches_the_other_model(tmp_path):
    registry = Registry(tmp_path)
    first, second, third = _runs(registry, "sum", 3)
    (color,) = _runs(registry, "color", 1)
    for run_id in (first, second, color, third):
        registry.activate(run_id)
    registry.delete(second)
    assert registry.previous_active("sum") == first
    assert registry.rollback("sum").run_id == first
    assert registry.active_ids() == {"sum": first, "color": color}


def test_a_hand_edited_active_json_counts_as_the_top_of_the_history(tmp_path):
    registry = Registry(tmp_path)
    first, second, third = _runs(registry, "sum", 3)
    registry.activate(first)
    registry.activate(second)
    registry.active_file.write_text(json.dumps({"sum": third}))  # not through the registry
    assert registry.previous_active("sum") == second
    assert registry.rollback("sum").run_id == second


def test_the_active_run_cannot_be_deleted_and_another_one_can(tmp_path):
    registry = Registry(tmp_path)
    active, other = _runs(registry, "color", 2)
    registry.activate(active)
    with pytest.raises(RegistryError, match="it is the active color model"):
        registry.delete(active)
    assert (registry.runs_dir / active).is_dir()

    registry.delete(other)
    assert [r.run_id for r in registry.list_runs()] == [active]
    assert not (registry.runs_dir / other).exists()
    assert not list(registry.tmp_dir.iterdir())  # nothing left half-deleted
    with pytest.raises(RegistryError, match="does not exist"):
        registry.delete(other)


def test_nothing_is_deleted_while_the_active_runs_are_unknown(tmp_path):
    registry = Registry(tmp_path)
    (run_id,) = _runs(registry, "sum", 1)
    registry.active_file.write_text("[]")
    with pytest.raises(RegistryError, match="active runs are unknown"):
        registry.delete(run_id)
    assert (registry.runs_dir / run_id).is_dir()


def test_a_note_and_tags_survive_a_reload(tmp_path):
    registry = Registry(tmp_path)
    (run_id,) = _runs(registry, "color", 1)
    assert registry.notes(run_id).empty
    saved = registry.annotate(run_id, "  Fine-tuned baseline.  ", "Baseline, #lr-sweep baseline")
    assert saved.note == "Fine-tuned baseline." and saved.tags == ("baseline", "lr-sweep")
    again = Registry(tmp_path).notes(run_id)
    assert again == saved
    assert json.loads((registry.runs_dir / run_id / "notes.json").read_text())["tags"] == [
        "baseline",
        "lr-sweep",
    ]
    registry.annotate(run_id, "", [])
    assert Registry(tmp_path).notes(run_id).empty


@pytest.mark.parametrize(
    "note, tags, message",
    [
        ("x" * 2001, "", "at most 2,000"),
        ("ok", "good/bad", "not a tag: 'good/bad'"),
        ("ok", " ".join(f"t{i}" for i in range(13)), "at most 12"),
        (42, "", "a note is text"),
    ],
)
def test_bad_notes_and_tags_are_refused_and_the_old_ones_kept(tmp_path, note, tags, message):
    registry = Registry(tmp_path)
    (run_id,) = _runs(registry, "sum", 1)
    registry.annotate(run_id, "first", "keep")
    with pytest.raises(RegistryError, match=message):
        registry.annotate(run_id, note, tags)
    assert registry.notes(run_id).note == "first" and registry.notes(run_id).tags == ("keep",)


def test_a_damaged_notes_file_reads_as_no_note(tmp_path):
    registry = Registry(tmp_path)
    (run_id,) = _runs(registry, "sum", 1)
    (registry.runs_dir / run_id / "notes.json").write_text("{ not json")
    assert registry.notes(run_id).empty
    assert [r.run_id for r in registry.list_runs()] == [run_id]


@pytest.mark.parametrize("bad", ["../etc", "sum-20260101-000000-a/../../x", "", "color"])
def test_every_run_action_refuses_a_bad_run_id(tmp_path, bad):
    registry = Registry(tmp_path)
    for action in (registry.activate, registry.delete, registry.notes):
        with pytest.raises(RegistryError):
            action(bad)
    with pytest.raises(RegistryError):
        registry.annotate(bad, "note")
    with pytest.raises(RegistryError, match="unknown model"):
        registry.rollback("cats")
