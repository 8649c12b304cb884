"""Where the blocks' documentation lives: the README's sections, shown in the Prefect UI beside each block.

The project has no published documentation site; these point at the README in the project's repository.
Change REPOSITORY_URL in one place when the repository moves.
"""

REPOSITORY_URL = "https://github.com/narration-orchestrator/narration-orchestrator"
PROVIDERS_DOCUMENTATION_URL = f"{REPOSITORY_URL}#providers"
STORAGE_DOCUMENTATION_URL = f"{REPOSITORY_URL}#storage-in-the-cloud"
