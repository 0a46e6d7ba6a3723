import json

import pytest

from mimo import artifacts
from mimo.registry import Registry, RegistryError, check_run_id, new_run_id, write_json_atomic


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
