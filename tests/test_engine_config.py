"""Engine settings from a JSON file or inline JSON (``--engine-config`` of search, serve and
eval; :func:`kgjemb.query.config.load_engine_config`): nesting, defaults kept, and a clear
error naming the setting for every bad value."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgjemb.cli import app
from kgjemb.errors import ConfigError
from kgjemb.query.config import EngineConfig, RelWeights, SignalWeights, changed_settings, load_engine_config

runner = CliRunner()


def test_file_inline_and_mapping_give_the_same_settings(tmp_path):
    settings = {"fusion": "rrf", "weights": {"graph": 2, "fact": 0.5}, "walk": {"steps": 3},
                "rel_weights": {"version_of": 6.0}, "ef_search": None, "exclude_anchors": False}
    file = tmp_path / "engine.json"
    file.write_text(json.dumps(settings))
    configs = [load_engine_config(file), load_engine_config(str(file)), load_engine_config(json.dumps(settings)),
               load_engine_config(settings)]
    assert all(c == configs[0] for c in configs)
    c = configs[0]
    got = (c.fusion, c.weights.graph, c.weights.fact, c.walk.steps, c.rel_weights.version_of)
    assert got == ("rrf", 2.0, 0.5, 3, 6.0)
    assert isinstance(c.weights.graph, float) and c.exclude_anchors is False
    # what was not named keeps its default
    assert c.weights.entity == SignalWeights().entity and c.walk.restart == EngineConfig().walk.restart
    assert c.rel_weights.on == RelWeights().on and c.overfetch == EngineConfig().overfetch
    assert changed_settings(c) == {"fusion": "rrf", "weights.graph": 2.0, "weights.fact": 0.5, "walk.steps": 3,
                                   "rel_weights.version_of": 6.0, "exclude_anchors": False}
    assert changed_settings(EngineConfig()) == {} and load_engine_config("{}") == EngineConfig()
    # a base other than the defaults: only the named settings change
    base = EngineConfig(fusion="rrf", weights=SignalWeights(audio=0.0))
    tuned = load_engine_config('{"weights": {"text": 2}}', base=base)
    assert (tuned.fusion, tuned.weights.audio, tuned.weights.text) == ("rrf", 0.0, 2.0)


@pytest.mark.parametrize("source, named", [
    ('{"weights": {"grph": 2}}', "weights.grph: unknown setting; known: entity, audio"),
    ('{"speed": 1}', "speed: unknown setting"),
    ('{"weights": {"graph": -1}}', "weights: weight graph must be >= 0"),
    ('{"weights": {"graph": "1.5"}}', "weights.graph: Input should be a valid number, got '1.5'"),
    ('{"weights": {"graph": true}}', "weights.graph: Input should be a valid number"),
    ('{"walk": {"steps": 2.5}}', "walk.steps: Input should be a valid integer, got 2.5"),
    ('{"exclude_anchors": 1}', "exclude_anchors: Input should be a valid boolean"),
    ('{"weights": 3}', "weights: must be an object of settings (entity, audio"),
    ('{"fusion": "median"}', "unknown fusion 'median'"),
    ('{"weights": {"graph": NaN}}', "not valid JSON: NaN is not a number a setting can take"),
    ('{"weights": {"graph": Infinity}}', "Infinity is not a number"),
    ('{"weights": ', "not valid JSON"),
    ('[1, 2]', "must be a JSON object of settings, got list"),
    ('{"walk": {"restart": 1.5}}', "walk: restart"),
])
def test_bad_settings_name_the_setting(source, named):
    with pytest.raises(ConfigError, match="engine config") as err:
        load_engine_config(source)
    assert named in str(err.value)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.json: no such file"):
        load_engine_config(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="no such file"):
        load_engine_config(tmp_path)  # a directory
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match=r"binary\.json: unreadable"):
        load_engine_config(binary)
    huge = tmp_path / "huge.json"
    huge.write_text("{" + " " * (1 << 20) + "}")
    with pytest.raises(ConfigError, match="not a settings file"):
        load_engine_config(huge)
    deep = tmp_path / "deep.json"
    deep.write_text('{"weights": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigError, match="deep.json"):
        load_engine_config(deep)
    with pytest.raises(ConfigError, match=r"weights\.graph"):
        load_engine_config({"weights": {"graph": float("nan")}})


def test_search_cli_uses_the_settings_and_reports_bad_ones(bundle_dir, engine, tmp_path):
    artist = engine.bundle.export.nodes["Artist"]["name"].iloc[0]
    query = ["search", "--threads", "0", f"music like {artist}", "-k", "5", "--bundle", str(bundle_dir),
             "--format", "json"]
    default = runner.invoke(app, query)
    assert default.exit_code == 0, default.output
    signals = [h["signals"] for h in json.loads(default.stdout)["hits"]]
    assert any(k.startswith("graph:") and v > 0 for s in signals for k, v in s.items())
    file = tmp_path / "no-graph.json"
    file.write_text('{"weights": {"graph": 0, "fact": 0}}')
    tuned = runner.invoke(app, [*query, "--engine-config", str(file)])
    assert tuned.exit_code == 0, tuned.output
    hits = json.loads(tuned.stdout)["hits"]
    assert hits and all(v == 0 for h in hits for k, v in h["signals"].items() if k.startswith(("graph:", "has:")))
    # the same settings inline, and --fusion on top of a file
    inline = runner.invoke(app, [*query, "--engine-config", '{"weights": {"graph": 0, "fact": 0}}'])
    assert json.loads(inline.stdout)["hits"] == hits
    rrf = runner.invoke(app, [*query, "--engine-config", str(file), "--fusion", "rrf"])
    assert rrf.exit_code == 0 and json.loads(rrf.stdout)["hits"] != hits
    for bad, named in (('{"weights": {"grph": 0}}', "weights.grph: unknown setting"),
                       (str(tmp_path / "missing.json"), "missing.json: no such file")):
        res = runner.invoke(app, [*query, "--engine-config", bad])
        assert res.exit_code == 2 and named in res.output and "Traceback" not in res.output, res.output
    res = runner.invoke(app, [*query, "--fusion", "median"])
    assert res.exit_code == 2 and "unknown fusion 'median'" in res.output


def test_serve_settings_check_the_engine_config(tmp_path, monkeypatch):
    from kgjemb.serve.config import ServeConfig

    file = tmp_path / "engine.json"
    file.write_text('{"weights": {"graph": 2}}')
    monkeypatch.chdir(tmp_path)
    config = ServeConfig(engine_config="engine.json")  # relative: made absolute for workers and reloads
    assert config.engine_config == str(file.resolve())
    monkeypatch.setenv("KGJEMB_SERVE_ENGINE_CONFIG", config.to_env()["KGJEMB_SERVE_ENGINE_CONFIG"])
    assert ServeConfig.from_env().engine_config == config.engine_config  # what worker processes rebuild
    inline = '{"fusion": "rrf"}'
    assert ServeConfig(engine_config=inline).engine_config == inline
    with pytest.raises(ValueError, match=r"engine_config \(KGJEMB_SERVE_ENGINE_CONFIG\).*weights\.grph: unknown"):
        ServeConfig.from_env(engine_config='{"weights": {"grph": 2}}')
    with pytest.raises(ValueError, match="no such file"):
        ServeConfig.from_env(engine_config=str(tmp_path / "missing.json"))
