"""Publishing a dataset folder to the Hugging Face Hub: one commit, version tags, other configs and prose kept.

The network is touched only through an `HfApi` instance (`repo_exists`, `list_repo_refs`, `list_repo_files`,
`hf_hub_download`, `create_repo`, `create_branch`, `create_commit`, `create_tag`); the token comes from the usual
huggingface_hub sources (`HF_TOKEN`, `huggingface-cli login`) inside `HfApi` and is never read, printed or written
here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ErcSynthError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = ["CommitPlan", "PushConfig", "PushError", "PushResult", "plan_push", "push_folder"]

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TAG_RE = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
REPO_TYPE = "dataset"


class PushError(ErcSynthError, ValueError):
    """A dataset folder cannot be pushed as asked (bad folder, bad repo id, existing tag, ...)."""


@dataclass
class PushConfig:
    """Settings of `erc-synth push`.

    Args:
        repo_id: Target dataset repository, `<org or user>/<name>`.
        private: Create the repository as private (only when it does not exist yet).
        revision: Branch to commit to (created from the default branch when missing); the default branch when None.
        tag: Version tag to create on the new commit (`v1.2.0`); an existing tag is never moved or overwritten.
        commit_message: Commit title; a summary of the configs (and tag) when None.
        dry_run: Print the commit plan and stop, without any network access.
    """

    repo_id: str = field(default="", metadata={"help": "Target dataset repository, <org>/<name>."})
    private: bool = field(default=False, metadata={"help": "Create the repository as private (new repos only)."})
    revision: str | None = field(default=None, metadata={"help": "Branch to commit to (created when missing)."})
    tag: str | None = field(default=None, metadata={"help": "Version tag for the new commit, e.g. v1.0.0."})
    commit_message: str | None = field(default=None, metadata={"help": "Commit title (default: a summary)."})
    dry_run: bool = field(default=False, metadata={"help": "Print the commit plan without network access."})

    def __post_init__(self) -> None:
        if not _REPO_ID_RE.match(self.repo_id or ""):
            raise PushError(
                f"repo_id must look like '<org>/<name>' (e.g. my-org/erc-synth), but got repo_id={self.repo_id!r}."
            )
        if self.tag is not None and not _TAG_RE.match(self.tag):
            raise PushError(f"tag must be a version like v1.2.0, but got tag={self.tag!r}.")


@dataclass
class CommitPlan:
    """Everything one push will do, computed before anything is sent.

    Args:
        repo_id: Target repository.
        revision: Target branch (None: the default branch).
        uploads: `path_in_repo -> local file` for every data, plot and provenance file.
        readme: The README.md text that will be committed (merged with the remote card when there is one).
        deletions: Remote files of the pushed configs that the new version no longer has (stale shards).
        message: Commit title.
        tag: Tag created on the new commit, if any.
        create_repo: Whether the repository does not exist yet and will be created.
        create_branch: Whether `revision` does not exist yet and will be created.
        private: Visibility of a repository created by this push.
        configs: Configs of the local folder (uploaded now).
        remote_configs_kept: Configs only the remote has; their files and card entries stay as they are.
        remote_checked: False for a dry run: the remote state was not read.
    """

    repo_id: str
    revision: str | None
    uploads: dict[str, Path]
    readme: str
    deletions: list[str]
    message: str
    tag: str | None
    create_repo: bool
    create_branch: bool
    private: bool
    configs: list[str]
    remote_configs_kept: list[str] = field(default_factory=list)
    remote_checked: bool = True

    def operations(self) -> list[Any]:
        """The `CommitOperationAdd`/`CommitOperationDelete` list of the single commit."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        adds = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in sorted(self.uploads.items())]
        adds.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=self.readme.encode("utf-8")))
        return adds + [CommitOperationDelete(path_in_repo=p) for p in sorted(self.deletions)]

    def describe(self) -> str:
        """A human-readable plan (what `--dry-run` prints)."""
        lines = [f"Commit plan for dataset repository {self.repo_id} (branch {self.revision or 'main'}):"]
        if not self.remote_checked:
            lines.append("  (dry run: the remote was not contacted; its configs, card and tags are not checked)")
        if self.create_repo:
            lines.append(f"  create repository ({'private' if self.private else 'public'})")
        if self.create_branch:
            lines.append(f"  create branch {self.revision}")
        lines.append(f"  commit: {self.message!r}")
        lines.append(f"  configs: {', '.join(self.configs)}")
        if self.remote_configs_kept:
            lines.append(f"  kept from the remote: {', '.join(self.remote_configs_kept)}")
        for path in [*sorted(self.uploads), "README.md"]:
            lines.append(f"  + {path}")
        for path in sorted(self.deletions):
            lines.append(f"  - {path}")
        if self.tag:
            lines.append(f"  tag: {self.tag}")
        return "\n".join(lines)


@dataclass
class PushResult:
    """What a push did."""

    plan: CommitPlan
    commit_url: str | None = None
    commit_oid: str | None = None


def _local_state(folder: Path) -> tuple[str, list[str], dict[str, Path]]:
    from huggingface_hub import DatasetCard

    readme = folder / "README.md"
    if not folder.is_dir() or not readme.is_file():
        raise PushError(
            f"{str(folder)!r} is not a dataset folder (expected a README.md dataset card); build one with "
            "`erc-synth build RUN_DIR... --output-dir FOLDER`."
        )
    text = readme.read_text(encoding="utf-8")
    configs = [entry.get("config_name") for entry in (DatasetCard(text).data.to_dict().get("configs") or [])]
    if not configs:
        raise PushError(f"{str(readme)!r} lists no configs in its YAML `configs:` block; rebuild the folder.")
    uploads = {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.name != "README.md"
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }
    return text, configs, uploads


def plan_push(folder: str | Path, config: PushConfig, api: HfApi | None = None) -> CommitPlan:
    """Works out the single commit that publishes `folder`.

    With an `api` the remote is read: an existing tag is refused, the remote card is merged (its other configs and
    its prose are kept; the pushed configs' entries and sections replace the old ones), and remote files of pushed
    configs that the folder no longer has are deleted. Without one (a dry run) nothing is read from the network.

    Raises:
        PushError: the folder is not a dataset folder, or the tag already exists.
    """
    # huggingface_hub's DatasetCard: loaded only when a card is written.
    from .card import merge_cards

    folder = Path(folder)
    text, configs, uploads = _local_state(folder)
    # The card's loading examples name the folder; on the Hub they should name the repository.
    text = text.replace(f'load_dataset("{folder.name}"', f'load_dataset("{config.repo_id}"')
    message = config.commit_message or f"Upload {', '.join(configs)} with erc-synth" + (
        f" ({config.tag})" if config.tag else ""
    )
    plan = CommitPlan(
        repo_id=config.repo_id,
        revision=config.revision,
        uploads=uploads,
        readme=text,
        deletions=[],
        message=message,
        tag=config.tag,
        create_repo=False,
        create_branch=False,
        private=config.private,
        configs=configs,
        remote_checked=api is not None,
    )
    if api is None:
        return plan
    if not api.repo_exists(config.repo_id, repo_type=REPO_TYPE):
        plan.create_repo = True
        plan.create_branch = config.revision not in (None, "main")
        return plan
    refs = api.list_repo_refs(config.repo_id, repo_type=REPO_TYPE)
    if config.tag and config.tag in {ref.name for ref in refs.tags}:
        raise PushError(
            f"Tag {config.tag!r} already exists in {config.repo_id}; a published version is never overwritten. "
            "Choose a new --tag (e.g. the next version)."
        )
    branches = {ref.name for ref in refs.branches}
    read_revision = config.revision
    if config.revision and config.revision not in branches:
        plan.create_branch = True
        read_revision = None  # the new branch starts from the default branch
    remote_files = api.list_repo_files(config.repo_id, repo_type=REPO_TYPE, revision=read_revision)
    if "README.md" in remote_files:
        remote_readme = api.hf_hub_download(config.repo_id, "README.md", repo_type=REPO_TYPE, revision=read_revision)
        remote_text = Path(remote_readme).read_text(encoding="utf-8")
        merged = merge_cards(remote_text, text)
        plan.readme = str(merged)
        remote_configs = [entry.get("config_name") for entry in (merged.data.to_dict().get("configs") or [])]
        plan.remote_configs_kept = [name for name in remote_configs if name not in configs]
    plan.deletions = [
        path for path in remote_files if any(path.startswith(f"{name}/") for name in configs) and path not in uploads
    ]
    return plan


def push_folder(folder: str | Path, config: PushConfig, api: HfApi | None = None) -> PushResult:
    """Publishes `folder` to the Hub in one commit, then tags it.

    Args:
        folder: A dataset folder built by `erc-synth build`.
        config: Push settings.
        api: The Hub client; a default `HfApi()` (token from the usual sources) when None.

    Returns:
        A `PushResult`; for a dry run, the plan only.

    Raises:
        PushError: see `plan_push`.
    """
    if config.dry_run:
        return PushResult(plan=plan_push(folder, config, api=None))
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(library_name="erc-synth")
    plan = plan_push(folder, config, api)
    if plan.create_repo:
        api.create_repo(config.repo_id, repo_type=REPO_TYPE, private=config.private, exist_ok=True)
    if plan.create_branch:
        api.create_branch(config.repo_id, branch=config.revision, repo_type=REPO_TYPE, exist_ok=True)
    info = api.create_commit(
        config.repo_id,
        operations=plan.operations(),
        commit_message=plan.message,
        repo_type=REPO_TYPE,
        revision=config.revision,
    )
    if config.tag:
        api.create_tag(
            config.repo_id, tag=config.tag, tag_message=plan.message, revision=info.oid, repo_type=REPO_TYPE
        )
    return PushResult(plan=plan, commit_url=info.commit_url, commit_oid=info.oid)
