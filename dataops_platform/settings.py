"""The one place that computes where everything lives (SPEC §14).

Everything derives from DATAOPS_HOME unless a URL is given explicitly: the governance store,
MLflow's tracking store and Dagster's instance are three separate databases, never one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DAGSTER_YAML = """\
# Written by dataops_platform. Dagster's storage lives here, apart from the governance store
# and the MLflow store (each keeps its own alembic_version table).
telemetry:
  enabled: false
"""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATAOPS_", extra="ignore")

    home: Path = Field(default=Path(".dataops"), description="Root of all embedded state.")
    database_url: str | None = Field(default=None, description="Governance store URL; SQLite under home.")
    mlflow_tracking_uri: str | None = Field(default=None, description="MLflow tracking URI; SQLite under home.")
    user: str | None = Field(default=None, description="Acting user for the embedded CLI.")
    # A deployment (SPEC §14): each service by URL. Unset, the embedded defaults above apply.
    dagster_storage_url: str | None = Field(
        default=None, description="PostgreSQL URL of Dagster's run/event/schedule storage (its own database)."
    )
    mlflow_backend_url: str | None = Field(
        default=None, description="Backend store of the MLflow tracking server (its own PostgreSQL database)."
    )
    dagster_instance_dir: Path | None = Field(
        default=None, description="A deployment's Dagster instance directory (its DAGSTER_HOME, with the generated dagster.yaml)."
    )
    celery_broker_url: str | None = Field(default=None, description="Celery broker (Redis) URL: steps run in Celery workers.")
    max_dataset_rows: int = Field(default=1_000_000, gt=0, description="Most rows one dataset version may hold (413 above).")
    max_dataset_bytes: int = Field(
        default=1024**3, gt=0, description="Most bytes of data (Parquet: decompressed) one registration may read."
    )
    artifact_root: str | None = Field(
        default=None, description="Where artifacts live: a directory or a URL (s3://, gs://, file://); default home/artifacts."
    )
    audit_anchor_copies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Further copies of the audit anchor, out of the home's reach: directories (another volume) or fsspec URLs "
            "(s3://bucket/prefix, file://, memory://), comma-separated (or a JSON list) in DATAOPS_AUDIT_ANCHOR_COPIES. "
            "Written on every advance, compared by every write and by `audit verify` (docs/audit.md)."
        ),
    )

    # Notifications (docs/notifications.md): SMTP for email channels, the dispatcher's retry policy.
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server of email channels.")
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS (required when set).")
    smtp_user: str | None = Field(default=None, description="SMTP login; its password is read from smtp_password_env.")
    smtp_password_env: str = Field(default="DATAOPS_SMTP_PASSWORD", description="Environment variable holding the SMTP password.")
    smtp_sender: str = Field(default="dataops@localhost", description="From: address of notification mail.")
    notify_max_attempts: int = Field(default=8, ge=1, le=100, description="Attempts before a delivery is dead-lettered.")
    notify_backoff_seconds: float = Field(default=30.0, gt=0, le=86_400, description="First retry delay; doubles per attempt.")
    notify_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    notify_lease_seconds: float = Field(default=300.0, gt=0, le=86_400, description="A claim older than this is retried.")
    notify_link_base: str = Field(default="http://127.0.0.1:3000", description="Dagster UI base URL used in message links.")

    # Dataset sources where they live (docs/datasets.md): S3-compatible stores and table catalogs.
    # Credentials come from the standard AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    # AWS_SESSION_TOKEN, AWS_PROFILE) unless set here; region and endpoint likewise (AWS_REGION, AWS_ENDPOINT_URL).
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto, Ceph); AWS when unset.")
    s3_region: str | None = Field(default=None, description="S3 region; AWS_REGION / AWS_DEFAULT_REGION when unset.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key; the AWS environment when unset.")
    s3_secret_access_key: str | None = Field(default=None, description="S3 secret key; the AWS environment when unset.")
    source_timeout_seconds: float = Field(default=30.0, gt=0, le=3600, description="Connect and read timeout of remote sources.")
    iceberg_catalog_uri: str | None = Field(default=None, description="Iceberg SQL catalog URL (e.g. sqlite:////path/catalog.db).")
    iceberg_warehouse: str | None = Field(default=None, description="Warehouse location of the Iceberg SQL catalog.")

    @field_validator("audit_anchor_copies", mode="before")
    @classmethod
    def _split_anchor_copies(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'governance.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path | None:
        """Where new MLflow experiments keep run artifacts: under home for the embedded store; a
        tracking server decides for itself (it proxies artifacts to its own destination)."""
        if self.mlflow_tracking_uri is not None and self.mlflow_tracking_uri.startswith(("http://", "https://")):
            return None
        return self.home_dir / "mlflow" / "artifacts"

    @property
    def dagster_home(self) -> Path:
        """Dagster's instance directory (its DAGSTER_HOME): the embedded SQLite one under home; on a
        deployment `dagster_instance_dir` (set it to the DAGSTER_HOME the Dagster processes use),
        else home/stack/dagster, where the local stack writes it. Never read from $DAGSTER_HOME
        itself: in-process materialisation points that at whichever home it last ran on."""
        if self.dagster_storage_url is None:
            return self.home_dir / "dagster"
        return self.dagster_instance_dir or self.home_dir / "stack" / "dagster"

    @property
    def artifacts_dir(self) -> Path:
        """A local path by default; with `artifact_root` a `universal_pathlib` path, so workers on
        other machines read and write the same files (an object store in a deployment)."""
        if self.artifact_root is None:
            return self.home_dir / "artifacts"
        from upath import UPath

        return UPath(self.artifact_root)  # type: ignore[return-value]

    @property
    def data_dir(self) -> Path:
        """Content-addressed copies of registered dataset files."""
        return self.home_dir / "data"

    @property
    def inbox_dir(self) -> Path:
        """The only place the REST API registers data files from by path."""
        return self.home_dir / "inbox"

    @property
    def audit_anchor_path(self) -> Path:
        """The audit chain's head, kept outside the database so a cut-off tail is detectable."""
        return self.home_dir / "audit_anchor.json"

    @property
    def audit_alarms_path(self) -> Path:
        """Where an audit alarm is recorded when the store cannot take it (its chain is in doubt): one
        JSON line per alarm; the same file sits next to every anchor copy (docs/audit.md)."""
        return self.home_dir / "audit_alarms.jsonl"

    def ensure_home(self) -> None:
        """Create the home layout; idempotent."""
        for directory in (self.home_dir, self.dagster_home, self.artifacts_dir, self.data_dir, self.inbox_dir):
            directory.mkdir(parents=True, exist_ok=True)  # an object store's "directory" is a no-op
        if self.mlflow_tracking_uri is None:
            (self.home_dir / "mlflow").mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        if not dagster_yaml.exists() and self.dagster_storage_url is None:  # a deployment's is generated
            dagster_yaml.write_text(DAGSTER_YAML)


def load_settings(home: Path | str | None = None, **overrides: object) -> Settings:
    """Settings from the environment, with `--home` (and test overrides) taking precedence."""
    if home is not None:
        overrides["home"] = Path(home)
    return Settings(**overrides)  # type: ignore[arg-type]
