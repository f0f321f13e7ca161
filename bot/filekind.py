"""What a changed file is, judged from its path: language and the kinds that change review effort.

Pure functions of the path (and, for generated code, the first lines of an added file), so the
same file is classified the same way by the scorer, the prompt builder and the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_LANGUAGES: dict[str, str] = {
    ".py": "Python",
    ".pyi": "Python",
    ".pyx": "Cython",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".jsx": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".mts": "TypeScript",
    ".cts": "TypeScript",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".kt": "Kotlin",
    ".kts": "Kotlin",
    ".scala": "Scala",
    ".groovy": "Groovy",
    ".gradle": "Groovy",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".cxx": "C++",
    ".hpp": "C++",
    ".hh": "C++",
    ".hxx": "C++",
    ".m": "Objective-C",
    ".mm": "Objective-C",
    ".cs": "C#",
    ".fs": "F#",
    ".vb": "Visual Basic",
    ".swift": "Swift",
    ".dart": "Dart",
    ".rb": "Ruby",
    ".php": "PHP",
    ".pl": "Perl",
    ".pm": "Perl",
    ".lua": "Lua",
    ".r": "R",
    ".jl": "Julia",
    ".ex": "Elixir",
    ".exs": "Elixir",
    ".erl": "Erlang",
    ".hs": "Haskell",
    ".ml": "OCaml",
    ".clj": "Clojure",
    ".zig": "Zig",
    ".nim": "Nim",
    ".sol": "Solidity",
    ".sh": "Shell",
    ".bash": "Shell",
    ".zsh": "Shell",
    ".fish": "Shell",
    ".ps1": "PowerShell",
    ".sql": "SQL",
    ".proto": "Protocol Buffers",
    ".graphql": "GraphQL",
    ".gql": "GraphQL",
    ".html": "HTML",
    ".htm": "HTML",
    ".css": "CSS",
    ".scss": "SCSS",
    ".sass": "SCSS",
    ".less": "Less",
    ".vue": "Vue",
    ".svelte": "Svelte",
    ".json": "JSON",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".toml": "TOML",
    ".ini": "INI",
    ".cfg": "INI",
    ".xml": "XML",
    ".tf": "Terraform",
    ".hcl": "HCL",
    ".md": "Markdown",
    ".markdown": "Markdown",
    ".rst": "reStructuredText",
    ".adoc": "AsciiDoc",
    ".txt": "Text",
    ".tex": "TeX",
}
_LANGUAGE_BY_NAME: dict[str, str] = {
    "Dockerfile": "Dockerfile",
    "Containerfile": "Dockerfile",
    "Makefile": "Makefile",
    "GNUmakefile": "Makefile",
    "CMakeLists.txt": "CMake",
    "Jenkinsfile": "Groovy",
    "Rakefile": "Ruby",
    "Gemfile": "Ruby",
    "BUILD": "Starlark",
    "BUILD.bazel": "Starlark",
    "WORKSPACE": "Starlark",
    "go.mod": "Go Module",
    "go.sum": "Go Module",
}

_LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
        "pdm.lock",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "mix.lock",
        "pubspec.lock",
        "Podfile.lock",
        "flake.lock",
        "packages.lock.json",
        "gradle.lockfile",
        "conda-lock.yml",
    }
)
_GENERATED = re.compile(
    r"""(?x)
    (^|/)(vendor|third_party|third-party|node_modules|bower_components|dist|
          __snapshots__|__generated__|generated|\.yarn)/
    | \.min\.(js|css)$ | \.js\.map$ | \.css\.map$
    | \.pb\.go$ | \.pb\.(cc|h)$ | _pb2(_grpc)?\.pyi?$ | \.pb\.(ts|js)$
    | _generated\.\w+$ | \.generated\.\w+$ | \.g\.dart$ | \.freezed\.dart$ | \.designer\.cs$
    | \.snap$ | \.ambr$ | (^|/)zz_generated[^/]*\.go$ | _string\.go$
    """
)
_GENERATED_BANNER = re.compile(
    r"(?i)(code generated .* do not edit|@generated|auto-?generated|do not edit|"
    r"this file (is|was) (automatically )?generated)"
)
_TEST = re.compile(
    r"""(?x)
    (^|/)(tests?|__tests__|spec|specs|testing|testdata|test_data|fixtures|e2e)/
    | (^|/)test_[^/]*\.py$ | _tests?\.py$ | (^|/)conftest\.py$
    | _test\.(go|rs|exs?|cc|cpp|c)$ | \.(test|spec)\.[cm]?[jt]sx?$
    | (Test|Tests|Spec|IT)\.(java|kt|scala|cs|swift)$ | _spec\.rb$
    """
)
_DOCS = re.compile(
    r"""(?ix)
    (^|/)(docs?|documentation|man)/
    | \.(md|markdown|rst|adoc|asciidoc|txt|rdoc|textile)$
    """
)
# Names that are docs unless their extension makes them source: security.py is code.
_DOC_NAMES = re.compile(
    r"""(?ix)
    (^|/)(README|CHANGELOG|CHANGES|HISTORY|NEWS|AUTHORS|CONTRIBUTORS|CONTRIBUTING|LICENSE|
          LICENCE|COPYING|NOTICE|CODE_OF_CONDUCT|SECURITY)(\.[\w.]+)?$
    """
)
_CI = re.compile(
    r"""(?x)
    (^|/)\.github/(workflows|actions)/ | (^|/)\.gitlab-ci\.ya?ml$ | (^|/)\.circleci/
    | (^|/)Jenkinsfile$ | (^|/)azure-pipelines\.ya?ml$ | (^|/)\.travis\.ya?ml$
    | (^|/)\.buildkite/ | (^|/)\.drone\.ya?ml$ | (^|/)bitbucket-pipelines\.ya?ml$
    | (^|/)(Dockerfile|Containerfile)[^/]*$ | (^|/)docker-compose[^/]*\.ya?ml$
    | (^|/)compose\.ya?ml$ | (^|/)(deploy|deployment|k8s|kubernetes|helm|charts|terraform|ansible)/
    | \.tf$ | \.tfvars$
    """
)
_BUILD = re.compile(
    r"""(?x)
    (^|/)(Makefile|GNUmakefile|CMakeLists\.txt|setup\.py|setup\.cfg|pyproject\.toml|tox\.ini|
          noxfile\.py|MANIFEST\.in|package\.json|tsconfig[^/]*\.json|webpack\.config\.[jt]s|
          vite\.config\.[jt]s|babel\.config\.[jt]s|go\.mod|Cargo\.toml|build\.gradle(\.kts)?|
          settings\.gradle(\.kts)?|pom\.xml|build\.sbt|Gemfile|[^/]*\.gemspec|composer\.json|
          BUILD(\.bazel)?|WORKSPACE|meson\.build|configure\.ac|Pipfile|environment\.ya?ml|
          \.pre-commit-config\.yaml|requirements[^/]*\.(txt|in))$
    """
)
_DEPENDENCY_MANIFEST = re.compile(
    r"""(?x)
    (^|/)(package\.json|pyproject\.toml|setup\.cfg|go\.mod|Cargo\.toml|Gemfile|composer\.json|
          pom\.xml|build\.gradle(\.kts)?|Pipfile|environment\.ya?ml|requirements[^/]*\.(txt|in)|
          \.pre-commit-config\.yaml)$
    """
)
_MIGRATION = re.compile(
    r"""(?x)
    (^|/)(migrations?|migrate|alembic|flyway|liquibase|changelogs?/db)/
    | (^|/)db/(schema\.rb|structure\.sql)$ | (^|/)schema\.(sql|prisma|graphql)$
    | (^|/)V\d+(_\d+)*__\w+\.sql$
    """
)


@dataclass(frozen=True, slots=True)
class FileKind:
    """How a path is classified; every flag is independent of the others."""

    language: str | None
    generated: bool
    lock: bool
    test: bool
    docs: bool
    ci: bool
    build: bool
    dependency_manifest: bool
    migration: bool

    @property
    def is_code(self) -> bool:
        """Source that a reviewer reads as program logic, not docs, tests, config or output."""
        return not (self.generated or self.lock or self.test or self.docs) and (
            self.language is not None and self.language not in _NON_CODE_LANGUAGES
        )


_NON_CODE_LANGUAGES = frozenset(
    {
        "Markdown",
        "reStructuredText",
        "AsciiDoc",
        "Text",
        "TeX",
        "JSON",
        "YAML",
        "TOML",
        "INI",
        "XML",
    }
)


def language_of(path: str) -> str | None:
    """The language a path is written in, from its name, or None when unknown."""
    pure = PurePosixPath(path)
    by_name = _LANGUAGE_BY_NAME.get(pure.name)
    if by_name is not None:
        return by_name
    return _LANGUAGES.get(pure.suffix.lower())


def classify(path: str, head: tuple[str, ...] = ()) -> FileKind:
    """Classify `path`; `head` is the first few lines of an added file, for generated banners."""
    name = PurePosixPath(path).name
    lock = name in _LOCK_FILES
    build = bool(_BUILD.search(path))
    generated = (
        lock
        or bool(_GENERATED.search(path))
        or any(_GENERATED_BANNER.search(line) for line in head[:5])
    )
    language = language_of(path)
    docs = bool(_DOCS.search(path)) or (
        bool(_DOC_NAMES.search(path)) and (language is None or language in _NON_CODE_LANGUAGES)
    )
    return FileKind(
        language=language,
        generated=generated,
        lock=lock,
        test=bool(_TEST.search(path)),
        docs=not build and docs,
        ci=bool(_CI.search(path)),
        build=build,
        dependency_manifest=bool(_DEPENDENCY_MANIFEST.search(path)),
        migration=bool(_MIGRATION.search(path)),
    )
