"""Where renderctl finds the API: flags, then variables, then a profile, then a local stack."""

from __future__ import annotations

import json

import pytest

from renderctl.config import ConfigError, resolve


def write_profiles(home, text: str) -> None:
    folder = home / ".config" / "renderctl"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(text)


def write_stack(folder, port: int = 7171, key: str = "stack-key") -> None:
    stack = folder / ".data" / "stack"
    stack.mkdir(parents=True)
    (stack / "stack.json").write_text(json.dumps({"devhost_port": port, "function_key": key}))


def test_flags_win_over_everything(tmp_path):
    write_stack(tmp_path)
    env = {"HOME": str(tmp_path), "RENDER_API_URL": "http://env/api", "RENDER_API_KEY": "env-key"}
    target = resolve("https://flag.example/api/", "flag-key", None, env=env, cwd=tmp_path)
    assert (target.api_url, target.key) == ("https://flag.example/api", "flag-key")


def test_variables_come_before_a_profile_and_the_stack(tmp_path):
    write_profiles(tmp_path, '[profiles.default]\napi = "https://profile/api"\nkey = "p"\n')
    write_stack(tmp_path)
    env = {"HOME": str(tmp_path), "RENDER_API_URL": "https://env.example", "RENDER_API_KEY": "env-key"}
    target = resolve(None, None, None, env=env, cwd=tmp_path)
    assert (target.api_url, target.key) == ("https://env.example/api", "env-key")


def test_a_named_profile_is_used_when_asked_for(tmp_path):
    write_profiles(tmp_path, '[profiles.default]\napi = "https://a/api"\n\n'
                             '[profiles.farm]\napi = "https://farm.example/api"\nkey = "farm-key"\n')
    target = resolve(None, None, "farm", env={"HOME": str(tmp_path), "RENDER_API_URL": "https://env"}, cwd=tmp_path)
    assert (target.api_url, target.key) == ("https://farm.example/api", "farm-key")


def test_a_missing_profile_is_a_clear_error(tmp_path):
    write_profiles(tmp_path, '[profiles.default]\napi = "https://a/api"\n')
    with pytest.raises(ConfigError, match="no profile 'farm'"):
        resolve(None, None, "farm", env={"HOME": str(tmp_path)}, cwd=tmp_path)


def test_a_local_stack_is_found_from_a_subfolder(tmp_path):
    write_stack(tmp_path, port=7555, key="k-local")
    deep = tmp_path / "shots" / "seq010"
    deep.mkdir(parents=True)
    target = resolve(None, None, None, env={"HOME": str(tmp_path)}, cwd=deep)
    assert (target.api_url, target.key) == ("http://127.0.0.1:7555/api", "k-local")


def test_nothing_configured_says_how_to_configure(tmp_path):
    with pytest.raises(ConfigError, match="--api URL"):
        resolve(None, None, None, env={"HOME": str(tmp_path)}, cwd=tmp_path)


def test_a_non_http_url_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="http"):
        resolve("file:///etc/passwd", None, None, env={"HOME": str(tmp_path)}, cwd=tmp_path)


def test_the_key_never_shows_in_the_target_repr(tmp_path):
    target = resolve("https://x/api", "very-secret-key", None, env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert "very-secret-key" not in repr(target) and "very-secret-key" not in str(target)


def test_a_key_is_never_sent_in_clear_text_beyond_this_machine(tmp_path):
    env = {"HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"clear text to farm\.example"):
        resolve("http://farm.example/api", "k", None, env=env, cwd=tmp_path)
    assert resolve("http://127.0.0.1:7071/api", "k", None, env=env, cwd=tmp_path).key == "k"
    assert resolve("https://farm.example/api", "k", None, env=env, cwd=tmp_path).key == "k"
