"""`erc-synth push`: the commit plan (files, message, tag), refusal of existing tags, merging with the remote card.

The Hub's servers cannot be reached here, so `FakeHub` stands in for them: an `HfApi` subclass whose network methods
serve a prepared remote state and record what would be sent. Everything else (folder reading, card merging, the
`CommitOperation` objects, the command line) is the real code.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi
from huggingface_hub.hf_api import GitRefInfo, GitRefs, RepoUrl
from run_fixtures import write_run

from erc_synth import cli
from erc_synth_datasets.build import BuildConfig, build_dataset
from erc_synth_datasets.card import section_names
from erc_synth_datasets.publish import PushConfig, PushError, plan_push, push_folder


class FakeHub(HfApi):
    """Stands in for the Hugging Face Hub's servers: a prepared remote state, and a record of every call."""

    def __init__(self, tmp: Path, files: dict[str, bytes] | None = None, tags: tuple[str, ...] = ()) -> None:
        super().__init__(token=False)
        self.tmp = tmp
        self.files = dict(files or {})
        self.tags = list(tags)
        self.exists = files is not None
        self.calls: list[tuple[str, dict]] = []

    def repo_exists(self, repo_id, *, repo_type=None, token=None):
        self.calls.append(("repo_exists", {"repo_id": repo_id, "repo_type": repo_type}))
        return self.exists

    def list_repo_refs(self, repo_id, *, repo_type=None, include_pull_requests=False, token=None):
        self.calls.append(("list_repo_refs", {"repo_id": repo_id}))
        main = GitRefInfo(name="main", ref="refs/heads/main", target_commit="0" * 40)
        tags = [GitRefInfo(name=t, ref=f"refs/tags/{t}", target_commit="1" * 40) for t in self.tags]
        return GitRefs(branches=[main], converts=[], tags=tags)

    def list_repo_files(self, repo_id, *, revision=None, repo_type=None, token=None):
        self.calls.append(("list_repo_files", {"repo_id": repo_id, "revision": revision}))
        return sorted(self.files)

    def hf_hub_download(self, repo_id, filename, **kwargs):
        self.calls.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename}))
        path = self.tmp / "downloads" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.files[filename])
        return str(path)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        self.exists = True
        return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

    def create_branch(self, repo_id, *, branch, **kwargs):
        self.calls.append(("create_branch", {"repo_id": repo_id, "branch": branch, **kwargs}))

    def create_commit(self, repo_id, operations, *, commit_message, **kwargs):
        operations = list(operations)
        self.calls.append(("create_commit", {"repo_id": repo_id, "message": commit_message, **kwargs}))
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                source = op.path_or_fileobj
                self.files[op.path_in_repo] = source if isinstance(source, bytes) else Path(source).read_bytes()
            elif isinstance(op, CommitOperationDelete):
                del self.files[op.path_in_repo]
        self.operations = operations
        return CommitInfo(
            commit_url=f"https://huggingface.co/datasets/{repo_id}/commit/{'a' * 40}",
            commit_message=commit_message,
            commit_description="",
            oid="a" * 40,
        )

    def create_tag(self, repo_id, *, tag, revision=None, **kwargs):
        self.calls.append(("create_tag", {"repo_id": repo_id, "tag": tag, "revision": revision, **kwargs}))
        self.tags.append(tag)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("push")
    runs = [write_run(root / "runs" / "mb", "meld", "balanced", num_dialogues=10, seed=6)]
    return build_dataset(runs, BuildConfig(output=str(root / "erc-synth"))).output


EXPECTED_FILES = [
    "README.md",
    "meld_balanced/build_info.json",
    "meld_balanced/label_distribution.png",
    "meld_balanced/test-00000-of-00001.parquet",
    "meld_balanced/train-00000-of-00001.parquet",
    "meld_balanced/validation-00000-of-00001.parquet",
]


def test_push_to_a_new_repository_is_one_commit_then_a_tag(folder, tmp_path):
    hub = FakeHub(tmp_path)
    result = push_folder(folder, PushConfig(repo_id="my-org/erc-synth", tag="v1.0.0", private=True), api=hub)
    assert hub.names() == ["repo_exists", "create_repo", "create_commit", "create_tag"]
    assert hub.calls[1][1]["private"] is True and hub.calls[1][1]["repo_type"] == "dataset"
    commit = hub.calls[2][1]
    assert commit["message"] == "Upload meld_balanced with erc-synth (v1.0.0)"
    assert commit["repo_type"] == "dataset" and commit["revision"] is None
    assert sorted(op.path_in_repo for op in hub.operations) == EXPECTED_FILES
    assert all(isinstance(op, CommitOperationAdd) for op in hub.operations)
    for path in EXPECTED_FILES[1:]:
        assert hub.files[path] == (folder / path).read_bytes()
    assert hub.calls[3][1] == {
        "repo_id": "my-org/erc-synth",
        "tag": "v1.0.0",
        "revision": "a" * 40,
        "tag_message": "Upload meld_balanced with erc-synth (v1.0.0)",
        "repo_type": "dataset",
    }
    readme = hub.files["README.md"].decode()
    assert 'load_dataset("my-org/erc-synth", "meld_balanced")' in readme
    assert result.commit_oid == "a" * 40


def test_an_existing_tag_is_refused_before_anything_is_sent(folder, tmp_path):
    hub = FakeHub(tmp_path, files={"README.md": (folder / "README.md").read_bytes()}, tags=("v1.0.0",))
    with pytest.raises(PushError, match=r"Tag 'v1.0.0' already exists in my-org/erc-synth.*new --tag"):
        push_folder(folder, PushConfig(repo_id="my-org/erc-synth", tag="v1.0.0"), api=hub)
    assert "create_commit" not in hub.names() and "create_tag" not in hub.names()


def test_push_keeps_remote_configs_and_prose_and_drops_stale_shards(folder, tmp_path):
    remote_root = tmp_path / "remote"
    remote = build_dataset(
        [
            write_run(tmp_path / "r" / "en", "emorynlp", "natural", num_dialogues=10, seed=7),
            write_run(tmp_path / "r" / "mb", "meld", "balanced", num_dialogues=20, seed=8),
        ],
        BuildConfig(output=str(remote_root)),
    ).output
    remote_card = (remote / "README.md").read_text().replace("## How to cite", "Maintainers' notes.\n\n## How to cite")
    files = {p.relative_to(remote).as_posix(): p.read_bytes() for p in remote.rglob("*") if p.is_file()}
    files["README.md"] = remote_card.encode()
    files["meld_balanced/train-00000-of-00002.parquet"] = b"old shard"  # from an older, sharded version
    hub = FakeHub(tmp_path, files=files, tags=("v1.0.0",))
    push_folder(folder, PushConfig(repo_id="my-org/erc-synth", revision="v2-draft", tag="v1.1.0"), api=hub)
    assert hub.names() == [
        "repo_exists",
        "list_repo_refs",
        "list_repo_files",
        "hf_hub_download",
        "create_branch",
        "create_commit",
        "create_tag",
    ]
    assert hub.calls[2][1]["revision"] is None  # a new branch starts from the default branch
    deletions = [op.path_in_repo for op in hub.operations if isinstance(op, CommitOperationDelete)]
    assert deletions == ["meld_balanced/train-00000-of-00002.parquet"]
    assert (
        hub.files["emorynlp_natural/train-00000-of-00001.parquet"]
        == files["emorynlp_natural/train-00000-of-00001.parquet"]
    )
    card = DatasetCard(hub.files["README.md"].decode())
    data = card.data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["emorynlp_natural", "meld_balanced"]
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert sum(s["num_examples"] for s in infos["meld_balanced"]["splits"]) == 10  # the pushed version
    assert sum(s["num_examples"] for s in infos["emorynlp_natural"]["splits"]) == 10  # kept from the remote
    assert "Maintainers' notes." in card.text
    assert section_names(card.text) == ["emorynlp_natural", "meld_balanced"]
    assert "accepted 10 of 12 attempts" in card.text


def test_dry_run_prints_the_plan_without_network(folder, tmp_path, capsys, monkeypatch):
    token = "hf_secretTOKENvalue1234567890"
    monkeypatch.setenv("HF_TOKEN", token)
    argv = ["push", str(folder), "--repo-id", "my-org/erc-synth", "--tag", "v0.1.0", "--dry-run"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "dry run: the remote was not contacted" in out
    for path in EXPECTED_FILES:
        assert f"  + {path}" in out
    assert "commit: 'Upload meld_balanced with erc-synth (v0.1.0)'" in out
    assert "tag: v0.1.0" in out
    assert token not in out
    hub = FakeHub(tmp_path, files={})
    result = push_folder(folder, PushConfig(repo_id="my-org/erc-synth", dry_run=True), api=hub)
    assert hub.calls == []  # not even a read
    assert result.plan.remote_checked is False and result.commit_url is None


def test_cli_push_never_shows_the_token(folder, tmp_path, capsys, monkeypatch):
    token = "hf_secretTOKENvalue1234567890"
    monkeypatch.setenv("HF_TOKEN", token)
    hub = FakeHub(tmp_path)
    from erc_synth.commands import push as push_command

    assert push_command.main([str(folder), "--repo-id", "my-org/erc-synth", "--tag", "v1.0.0"], api=hub) == 0
    captured = capsys.readouterr()
    assert "Pushed: https://huggingface.co/datasets/my-org/erc-synth/commit/" in captured.out
    assert token not in captured.out + captured.err
    assert all(token.encode() not in content for content in hub.files.values())
    assert all(token.encode() not in p.read_bytes() for p in folder.rglob("*") if p.is_file())
    # Refusals are exit code 1 with the reason, in one line.
    assert push_command.main([str(folder), "--repo-id", "my-org/erc-synth", "--tag", "v1.0.0"], api=hub) == 1
    assert "already exists" in capsys.readouterr().err


def test_bad_arguments_are_refused(folder, tmp_path):
    with pytest.raises(PushError, match="repo_id must look like"):
        PushConfig(repo_id="erc-synth")
    with pytest.raises(PushError, match="tag must be a version"):
        PushConfig(repo_id="org/erc-synth", tag="latest")
    with pytest.raises(PushError, match="not a dataset folder"):
        plan_push(tmp_path, PushConfig(repo_id="org/erc-synth"))
