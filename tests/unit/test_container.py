"""The image and the Kubernetes manifests: what they promise, checked without Docker or a cluster.

The Dockerfile is read the way Docker reads it (continuation lines, comments, exec and shell
forms), `.dockerignore` is applied with Docker's rules, and every Kubernetes object in `deploy/`
is validated against the official client's models, which refuse unknown fields.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.models import V1Container, V1Deployment, V1Role, V1RoleBinding, V1Secret
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel

from bench.footprint import IMAGE_ENV
from orchestrator_telemetry import cli
from orchestrator_telemetry.config import (
    AIR_GAP_VARIABLE,
    CONFIG_ENV,
    OPT_OUT_VARIABLES,
    SECRET_KEYS,
    HttpSettings,
    KubernetesSettings,
    env_name,
    keys,
)
from orchestrator_telemetry.serve.metrics import Monitor

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
SIDECAR = DEPLOY / "sidecar.yaml"
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONTAINER_NAME = "orchestrator-telemetry"
# The variables the daemon reads to build the database URL from the orchestrator's settings.
ORCHESTRATOR_DATABASE_VARIABLES = {
    "PG_ADDR",
    "PG_PORT",
    "PG_USER",
    "PG_PASSWORD",
    "PG_PASSWORD_FILE",
    "PG_DATABASE",
    "PG_SSL_MODE",
    "PG_SSL_ROOT_CERT",
}


# ---- reading the Dockerfile ----------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT, CMD or RUN; fails the test otherwise."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} {self.arguments} is not in exec form"
        return [str(item) for item in value]

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """Leading `--flag=value` options, and the remaining words."""
        words = shlex.split(self.arguments)
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass(frozen=True)
class Stage:
    """One FROM and the instructions that follow it."""

    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction with this keyword, in order."""
        return [step for step in self.instructions if step.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        """The instruction with this keyword that takes effect: the last one."""
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """The variables its ENV instructions set (both `k=v` and the legacy `k v` forms)."""
        values: dict[str, str] = {}
        for step in self.all("ENV"):
            words = shlex.split(step.arguments)
            if "=" not in words[0]:
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                name, _, value = word.partition("=")
                values[name] = value
        return values

    def copies(self) -> Iterator[tuple[dict[str, str], list[str], str]]:
        """Each COPY as (flags, sources, destination)."""
        for step in self.all("COPY"):
            if step.arguments.startswith("["):
                *sources, destination = step.exec_form()
                yield {}, sources, destination
            else:
                flags, words = step.flags_and_words()
                yield flags, words[:-1], words[-1]


def instructions(text: str) -> Iterator[Instruction]:
    """The instructions of a Dockerfile, comments dropped and continuation lines joined."""
    pending: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#") or (not pending and not line.strip()):
            continue  # comments and parser directives; comments may sit inside a continuation
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        keyword, _, arguments = " ".join([*pending, line]).strip().partition(" ")
        pending = []
        yield Instruction(keyword.upper(), " ".join(arguments.split()))
    assert not pending, "the Dockerfile ends inside a continued instruction"


def stages() -> list[Stage]:
    """The Dockerfile's build stages, in order."""
    found: list[Stage] = []
    for step in instructions((ROOT / "Dockerfile").read_text()):
        if step.keyword == "FROM":
            _, words = step.flags_and_words()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(words[0], name, []))
        elif found:
            found[-1].instructions.append(step)
        else:
            assert step.keyword == "ARG", f"{step.keyword} before the first FROM"
    return found


def final() -> Stage:
    """The stage the image is made of."""
    return stages()[-1]


def stage_named(name: str) -> Stage:
    """The stage `FROM ... AS name`."""
    matching = [stage for stage in stages() if stage.name == name]
    assert matching, f"no stage named {name}"
    return matching[0]


def image_uid() -> int:
    """The numeric user id the image runs as."""
    user = final().last("USER").arguments.split(":")[0]
    assert user.isdigit(), f"USER {user} is not numeric"
    return int(user)


def console_script() -> str:
    """The one command pyproject.toml installs."""
    scripts: dict[str, str] = PROJECT["scripts"]
    assert len(scripts) == 1
    return next(iter(scripts))


# ---- reading .dockerignore -----------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    """One .dockerignore line."""

    text: str
    negated: bool
    pattern: re.Pattern[str]


def ignore_rules() -> list[IgnoreRule]:
    """The rules of .dockerignore, in order."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        text = line.removeprefix("!").strip().strip("/")
        rules.append(IgnoreRule(text, negated, re.compile(_glob_to_regex(text))))
    return rules


def _glob_to_regex(glob: str) -> str:
    """Docker's pattern syntax: `**` spans directories, `*` and `?` do not cross a `/`."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return out


def ignored(path: str, rules: list[IgnoreRule]) -> bool:
    """Whether Docker leaves `path` out of the build context.

    As in Docker, a rule applies to a path when it matches the path or one of its parent
    directories, and the last rule that applies decides.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for rule in rules:
        if any(rule.pattern.fullmatch(candidate) for candidate in candidates):
            result = not rule.negated
    return result


def build_context() -> set[str]:
    """Every file Docker sends to the builder, relative to the repository."""
    rules = ignore_rules()
    readmitted = [rule.text for rule in rules if rule.negated]
    walk_everything = any(re.search(r"[*?\[]", text) for text in readmitted)
    sent: set[str] = set()
    for directory, subdirectories, files in os.walk(ROOT):
        where = Path(directory).relative_to(ROOT).as_posix()
        prefix = "" if where == "." else f"{where}/"
        # Skip excluded trees no `!` rule reaches into (.git, .venv, ...); they are big.
        subdirectories[:] = [
            sub
            for sub in subdirectories
            if walk_everything
            or not ignored(prefix + sub, rules)
            or any(text.startswith(f"{prefix}{sub}/") for text in readmitted)
        ]
        sent.update(prefix + name for name in files if not ignored(prefix + name, rules))
    return sent


def copied_sources() -> list[str]:
    """The build-context paths the Dockerfile copies (COPY --from copies between stages)."""
    return [
        source.strip("/")
        for stage in stages()
        for flags, sources, _ in stage.copies()
        if "from" not in flags
        for source in sources
    ]


# ---- reading deploy/ -----------------------------------------------------------------------


def manifests() -> list[Path]:
    """Every file in deploy/."""
    return sorted(path for path in DEPLOY.iterdir() if path.is_file())


def documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every YAML document in deploy/, with its file."""
    return [
        (path, document)
        for path in manifests()
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def objects(kind: str) -> list[dict[str, Any]]:
    """The objects of one kind in deploy/."""
    return [document for _, document in documents() if document.get("kind") == kind]


def sidecar_patch() -> dict[str, Any]:
    """deploy/sidecar.yaml: the patch of Devtron's orchestrator Deployment."""
    (patch,) = yaml.safe_load_all(SIDECAR.read_text())
    assert isinstance(patch, dict)
    return patch


def sidecar() -> dict[str, Any]:
    """The sidecar container the patch adds."""
    (container,) = sidecar_patch()["spec"]["template"]["spec"]["initContainers"]
    assert isinstance(container, dict)
    return container


def sidecar_env() -> dict[str, dict[str, Any]]:
    """The sidecar's environment variables by name."""
    return {variable["name"]: variable for variable in sidecar()["env"]}


def http_port() -> int:
    """The port the daemon listens on in the sidecar: OT_HTTP_PORT, else the default."""
    variable = sidecar_env().get(env_name("http", "port"))
    return int(variable["value"]) if variable else HttpSettings().port


def resolve_port(port: int | str) -> int:
    """A probe's port: a number, or the name of one of the sidecar's container ports."""
    if isinstance(port, int):
        return port
    named = {entry["name"]: entry["containerPort"] for entry in sidecar()["ports"]}
    return int(named[port])


def devtron_deployment() -> dict[str, Any]:
    """Devtron's orchestrator Deployment as its chart renders it, reduced to what matters here."""
    labels = {"app": "devtron", "release": "devtron"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "devtron", "namespace": "devtroncd", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "devtron",
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "devtron",
                            "image": "quay.io/devtron/devtron:example",
                            "ports": [{"name": "devtron", "containerPort": 8080}],
                            "envFrom": [
                                {"configMapRef": {"name": "devtron-cm"}},
                                {"secretRef": {"name": "devtron-secret"}},
                            ],
                        }
                    ],
                },
            },
        },
    }


def strategic_merge(base: Any, patch: Any) -> Any:
    """`kubectl patch`'s default for these fields: maps merge, lists of containers merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and all("name" in i for i in patch):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = strategic_merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return patch


def deployment_section() -> str:
    """The README's Deployment section, up to the next top-level section."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"\n## Deployment\n(.*?)\n## ", readme, re.DOTALL)
    assert match, "README.md has no Deployment section"
    return match.group(1)


# ---- the image -----------------------------------------------------------------------------


def test_the_image_is_built_in_stages_that_share_one_base_image() -> None:
    built = stages()

    assert len(built) >= 2
    # The virtualenv is built in one stage and run in another: the same interpreter must exist.
    assert len({stage.base for stage in built}) == 1


def test_the_image_runs_as_a_numeric_user_that_is_not_root() -> None:
    user = final().last("USER").arguments

    assert all(part.isdigit() for part in user.split(":")), f"USER {user} is not numeric"
    assert image_uid() != 0


def test_the_entrypoint_is_the_projects_command_in_exec_form() -> None:
    assert final().last("ENTRYPOINT").exec_form() == [console_script()]
    assert PROJECT["scripts"][console_script()] == "orchestrator_telemetry.cli:main"


def test_the_default_command_runs_the_daemon() -> None:
    command = final().last("CMD").exec_form()

    assert command == ["run"]
    assert cli._parser().parse_args(command).command == "run"


def test_sigterm_stops_the_container() -> None:
    assert final().last("STOPSIGNAL").arguments == "SIGTERM"


def test_kubernetes_probes_are_the_only_health_checks() -> None:
    assert not [stage for stage in stages() if stage.all("HEALTHCHECK")]


def test_the_exposed_port_is_the_default_http_port() -> None:
    (exposed,) = final().all("EXPOSE")

    assert exposed.arguments.removesuffix("/tcp") == str(HttpSettings().port)


def test_bytecode_is_compiled_at_build_time_and_never_written_at_run_time() -> None:
    builder = stage_named("build")
    venv = final().env()["PATH"].split(":")[0].removesuffix("/bin")

    assert final().env()["PYTHONDONTWRITEBYTECODE"] == "1"
    assert any(
        "compileall" in step.arguments and venv in step.arguments for step in builder.all("RUN")
    )
    # The base image's standard library comes without bytecode: the runtime stage compiles it.
    assert any("compileall" in step.arguments for step in final().all("RUN"))


def test_the_image_runs_optimised_on_bytecode_compiled_at_that_level() -> None:
    level = final().env()["PYTHONOPTIMIZE"]
    steps = [
        step.arguments
        for stage in (stage_named("build"), final())
        for step in stage.all("RUN")
        if "compileall" in step.arguments
    ]

    assert level == "2"
    assert steps
    assert all(f"-o {level}" in arguments for arguments in steps)


def test_the_benchmark_measures_the_daemon_in_the_images_environment() -> None:
    image = final().env()

    assert {name: image[name] for name in IMAGE_ENV} == IMAGE_ENV


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    context = build_context()

    for source in copied_sources():
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        if path.is_dir():
            assert any(sent.startswith(f"{source}/") for sent in context), f"{source} is ignored"
        else:
            assert source in context, f"COPY {source}: excluded by .dockerignore"


def test_the_build_context_holds_only_what_is_copied() -> None:
    sources = copied_sources()

    for sent in build_context():
        assert any(sent == s or sent.startswith(f"{s}/") for s in sources), f"{sent} is not used"


def test_no_bytecode_cache_is_sent_to_the_builder() -> None:
    assert not [path for path in build_context() if "__pycache__" in path.split("/")]


def test_the_shipped_virtualenv_is_installed_from_the_lock_alone() -> None:
    (venv_copy,) = [
        (flags["from"], sources)
        for flags, sources, _ in final().copies()
        if "from" in flags and sources == ["/opt/venv"]
    ]
    builder = stage_named(venv_copy[0])
    (lock_destination,) = [
        destination + ("requirements.lock" if destination.endswith("/") else "")
        for _, sources, destination in builder.copies()
        if sources == ["requirements.lock"]
    ]
    installs = [step.arguments for step in builder.all("RUN") if "pip install" in step.arguments]

    assert any(f"-r {lock_destination}" in command for command in installs)
    # The project itself adds nothing the lock did not pin.
    project_installs = [command for command in installs if " -r " not in command]
    assert project_installs
    assert all("--no-deps" in command for command in project_installs)


def test_every_runtime_dependency_is_pinned_in_the_lock_within_its_range() -> None:
    pinned: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line} is not pinned with =="
            pinned[canonicalize_name(name)] = version.strip()

    for dependency in PROJECT["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {name}=={pinned[name]}, outside {requirement.specifier}"
        )


def test_the_image_is_labelled_with_the_projects_version() -> None:
    arguments = {
        name: value
        for step in final().all("ARG")
        for name, _, value in [step.arguments.partition("=")]
    }
    labels = " ".join(step.arguments for step in final().all("LABEL"))

    assert arguments["VERSION"] == PROJECT["version"]
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert f'org.opencontainers.image.licenses="{PROJECT["license"]}"' in labels


# ---- the manifests -------------------------------------------------------------------------


def test_deploy_holds_only_yaml_manifests() -> None:
    assert manifests()
    assert all(path.suffix == ".yaml" for path in manifests())


@pytest.mark.parametrize("path", manifests(), ids=lambda path: path.name)
def test_every_manifest_parses_as_yaml(path: Path) -> None:
    parsed = [document for document in yaml.safe_load_all(path.read_text()) if document]

    assert parsed
    assert all(isinstance(document, dict) and "kind" in document for document in parsed)


def test_every_kubernetes_object_is_valid_for_the_api() -> None:
    models: dict[str, type[BaseModel]] = {"Role": V1Role, "RoleBinding": V1RoleBinding}
    models["Secret"] = V1Secret
    for path, document in documents():
        if document["kind"] in models:
            models[document["kind"]].model_validate(document)  # unknown fields are refused
        else:
            assert path.name in {"sidecar.yaml", "kustomization.yaml"}, f"{path.name}: unchecked"


def test_the_kustomization_lists_files_that_exist() -> None:
    (kustomization,) = objects("Kustomization")

    assert kustomization["resources"]
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource


def test_the_sidecar_patches_devtrons_orchestrator_and_only_adds_a_container() -> None:
    patch = sidecar_patch()

    assert (patch["kind"], patch["metadata"]["name"]) == ("Deployment", "devtron")
    assert patch["metadata"]["namespace"] == KubernetesSettings().namespace
    assert list(patch["spec"]) == ["template"]
    assert list(patch["spec"]["template"]) == ["spec"]
    assert list(patch["spec"]["template"]["spec"]) == ["initContainers"]


def test_the_patched_deployment_is_valid_for_the_api() -> None:
    patched = strategic_merge(devtron_deployment(), sidecar_patch())

    deployment = V1Deployment.model_validate(patched)  # unknown fields are refused

    pod = deployment.spec.template.spec
    assert pod is not None
    assert [container.name for container in pod.containers] == ["devtron"]
    assert [container.name for container in pod.init_containers or []] == [CONTAINER_NAME]


def test_the_sidecar_is_a_native_sidecar() -> None:
    assert sidecar()["name"] == CONTAINER_NAME
    assert sidecar()["restartPolicy"] == "Always"


def test_the_classic_variant_is_the_same_container_among_the_orchestrators() -> None:
    # What the command in sidecar.yaml's comment does, for clusters older than 1.29.
    text = SIDECAR.read_text()
    assert "sed -e 's/initContainers:/containers:/'" in text
    assert "-e '/restartPolicy: Always/d' deploy/sidecar.yaml" in text
    classic = "\n".join(
        line.replace("initContainers:", "containers:")
        for line in text.splitlines()
        if "restartPolicy: Always" not in line
    )

    patched = strategic_merge(devtron_deployment(), yaml.safe_load(classic))
    pod = V1Deployment.model_validate(patched).spec.template.spec

    assert pod is not None
    assert [container.name for container in pod.containers] == ["devtron", CONTAINER_NAME]
    assert pod.containers[1].restart_policy is None
    assert not pod.init_containers


def test_the_sidecar_runs_the_daemon_through_the_images_entrypoint() -> None:
    container = sidecar()

    assert container.get("command", [console_script()]) == [console_script()]
    assert container["args"] == ["run"]
    assert cli._parser().parse_args(container["args"]).command == "run"


def test_the_sidecar_runs_the_version_this_repository_builds() -> None:
    assert sidecar()["image"].endswith(f":{PROJECT['version']}")


def test_the_sidecar_listens_where_its_port_says() -> None:
    (port,) = sidecar()["ports"]

    assert port["containerPort"] == http_port()
    assert str(http_port()) in final().last("EXPOSE").arguments


def test_the_liveness_probe_asks_healthz_on_the_http_port() -> None:
    probe = sidecar()["livenessProbe"]

    assert probe["httpGet"]["path"] == "/healthz"
    assert resolve_port(probe["httpGet"]["port"]) == http_port()
    assert probe["timeoutSeconds"] < probe["periodSeconds"]


def test_the_sidecar_never_holds_back_the_orchestrator() -> None:
    # A sidecar's readiness counts toward the pod's: a failing /readyz would take the
    # orchestrator out of its Service; a startup probe would delay the orchestrator's start.
    assert "readinessProbe" not in sidecar()
    assert "startupProbe" not in sidecar()
    # For a pod of its own, the comment shows the readiness probe to add: /readyz.
    assert re.search(r"#\s+httpGet: \{path: /readyz, port: telemetry\}", SIDECAR.read_text())
    assert resolve_port("telemetry") == http_port()


def test_the_sidecar_runs_as_the_images_user_on_a_read_only_root() -> None:
    context = sidecar()["securityContext"]

    assert context["runAsUser"] == image_uid()
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_sidecar_declares_requests_and_limits() -> None:
    resources = V1Container.model_validate(sidecar()).resources

    assert resources is not None
    assert set(resources.requests or {}) == {"cpu", "memory"}
    assert set(resources.limits or {}) == {"cpu", "memory"}


def test_every_variable_the_sidecar_sets_is_one_the_daemon_reads() -> None:
    daemon_reads = {env_name(section, key) for section, key in keys()}
    daemon_reads |= ORCHESTRATOR_DATABASE_VARIABLES | set(OPT_OUT_VARIABLES) | {AIR_GAP_VARIABLE}

    assert set(sidecar_env()) <= daemon_reads


def test_every_setting_named_in_the_manifests_and_their_docs_exists() -> None:
    real = {env_name(section, key) for section, key in keys()}
    real |= {env_name(section, key) + "_FILE" for section, key in SECRET_KEYS}
    real.add(CONFIG_ENV)
    texts = [path.read_text() for path in manifests()] + [deployment_section()]

    named = {name for text in texts for name in re.findall(r"\bOT_[A-Z0-9_]*[A-Z0-9]", text)}

    assert named
    assert named <= real, f"not configuration variables: {sorted(named - real)}"


def test_the_api_key_comes_from_the_example_secret() -> None:
    (secret,) = objects("Secret")
    reference = sidecar_env()[env_name("posthog", "api_key")]["valueFrom"]["secretKeyRef"]

    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]
    assert secret["metadata"]["namespace"] == sidecar_patch()["metadata"]["namespace"]


def test_the_role_grants_exactly_get_create_and_patch_on_configmaps() -> None:
    (role,) = objects("Role")
    rules = role["rules"]
    configmap = KubernetesSettings().configmap

    assert {verb for rule in rules for verb in rule["verbs"]} == {"get", "create", "patch"}
    for rule in rules:
        assert rule["apiGroups"] == [""]
        assert rule["resources"] == ["configmaps"]
        if "create" in rule["verbs"]:
            # resourceNames cannot restrict create: with them, every create would be refused.
            assert "resourceNames" not in rule
        else:
            assert rule["resourceNames"] == [configmap]
    assert role["metadata"]["namespace"] == KubernetesSettings().namespace


def test_the_role_is_bound_to_the_service_account_of_the_orchestrators_pod() -> None:
    (role,) = objects("Role")
    (binding,) = objects("RoleBinding")
    pod = strategic_merge(devtron_deployment(), sidecar_patch())["spec"]["template"]["spec"]

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": pod["serviceAccountName"],
            "namespace": role["metadata"]["namespace"],
        }
    ]


def test_the_readme_documents_every_metric_and_every_path() -> None:
    section = deployment_section()
    suffix = {"counter": "_total"}

    for family in Monitor().registry.collect():
        exposed = family.name + suffix.get(family.type, "")
        assert f"| `{exposed}` | {family.type} |" in section, f"{exposed} is not documented"
    for path in ("/healthz", "/readyz", "/metrics", "/preview"):
        assert f"| `{path}` |" in section
