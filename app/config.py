"""Settings: one pydantic-settings class, read from AMPS_* variables, overridden by CLI flags."""

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Schemes that name PostgreSQL without a driver, as Heroku, libpq and most hosts write them.
_BARE_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
WEBHOOK_SECRET = re.compile(r"(whsec_)?[A-Za-z0-9+/]{16,}={0,2}")


def normalize_database_url(url: str) -> str:
    """`postgresql://` and `postgres://` URLs use the psycopg 3 driver; others are kept."""
    for scheme in _BARE_POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def _split_keys(keys: SecretStr) -> list[str]:
    return [key.strip() for key in keys.get_secret_value().split(",") if key.strip()]


class Settings(BaseSettings):
    """Everything an operator can set. Each field is documented in README.md (a test checks)."""

    model_config = SettingsConfigDict(env_prefix="AMPS_", extra="ignore")

    media_dir: Path = Field(Path("media"), description="Where clips and the SQLite catalog live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the catalog; default SQLite in the media dir. "
        "`postgresql://` and `postgres://` use the psycopg 3 driver.",
    )
    api_token: str | None = Field(
        None,
        description="Bearer token for writes; when unset, writes are accepted from loopback only.",
    )
    max_upload_bytes: int = Field(
        2 * 1024**3, gt=0, description="Largest upload accepted, in bytes (413 past it)."
    )
    public_url: str | None = Field(
        None,
        description="Absolute base URL used in records and embeds, e.g. https://media.example.",
    )
    probe_timeout: float = Field(
        30.0, gt=0, description="Seconds before an ffprobe/ffmpeg run on an upload is killed."
    )
    transcode_timeout: float = Field(
        3600.0,
        gt=0,
        description="Seconds before ffmpeg making a clip's web-playable rendition is killed "
        "(the job is then retried, and the clip fails after the last attempt).",
    )
    run_jobs: bool = Field(
        True,
        description="Whether `amps serve` runs background jobs itself. With SQLite it must; "
        "with PostgreSQL, set it off on replicas when `amps worker` processes run them.",
    )
    job_concurrency: int = Field(
        1, ge=1, le=64, description="Jobs one process (server or worker) runs at once."
    )
    job_stalled_after: float = Field(
        30.0,
        ge=3,
        description="Seconds without a heartbeat after which a PostgreSQL worker counts as "
        "dead and its running jobs are run again (heartbeats go every third of it).",
    )
    storage_quota_bytes: int | None = Field(
        None,
        gt=0,
        description="Most bytes the library's files may take; a write past it is refused "
        "with 507 and nothing kept. None: the disk's own size.",
    )
    upload_read_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request body may stall between two chunks before the request "
        "is dropped with 408 and nothing kept.",
    )
    upload_expiry: int = Field(
        24 * 3600,
        gt=0,
        description="Seconds a resumable (tus) upload may sit unfinished after its last byte "
        "before it expires (410) and its bytes are removed.",
    )
    uploads_per_minute: int = Field(
        60,
        ge=0,
        description="Uploads (clips and tracks) one client address may start per minute; "
        "429 past it. 0: no limit.",
    )
    embed_origins: str = Field(
        "*",
        description="Origins that may frame /embed pages and command the player, separated "
        "by spaces (e.g. `https://news.example https://cms.example`); `*` for any.",
        pattern=r"^\s*(\*|(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?\s*)+)\s*$",
    )
    storage_url: str | None = Field(
        None,
        description="Where clips live: unset for files in the media dir, or "
        "`s3://bucket/prefix` for an S3-compatible object store.",
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?$",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="The object store's URL (e.g. http://127.0.0.1:8333 for SeaweedFS); "
        "default AWS, or AWS_ENDPOINT_URL.",
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        description="The store's URL as browsers reach it, for redirect mode's presigned URLs "
        "when it differs from AMPS_S3_ENDPOINT_URL (an internal name); default that one.",
    )
    s3_region: str | None = Field(
        None, description="The bucket's region; default AWS_REGION, else us-east-1."
    )
    s3_access_key_id: str | None = Field(
        None, description="Access key; default AWS_ACCESS_KEY_ID (or the instance's role)."
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description="Secret key; default AWS_SECRET_ACCESS_KEY."
    )
    s3_redirect: bool = Field(
        False,
        description="Answer stream GETs with a 307 redirect to a presigned URL of the store "
        "instead of proxying the bytes.",
    )
    s3_url_expiry: int = Field(
        300, ge=10, le=7 * 24 * 3600, description="Seconds a redirect's presigned URL stays valid."
    )
    static_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "static",
        description="The player's static files (JS, CSS, icons).",
    )
    server: Literal["uvicorn", "granian"] = Field(
        "granian",
        description="HTTP server `amps serve` runs: granian (the default: faster on ranges, "
        "sends whole files itself via ASGI pathsend) or uvicorn.",
    )
    workers: int = Field(1, ge=1, le=64, description="Processes `amps serve` runs.")
    accel_redirect: str | None = Field(
        None,
        description="Behind nginx: the internal location prefix (e.g. `/_amps_media/`) that "
        "maps to the media dir; nginx then sends whole files and plain single ranges "
        "(X-Accel-Redirect) once amps has judged the request.",
        pattern=r"^/([A-Za-z0-9._~-]+/)+$",
    )
    stream_cache_seconds: float = Field(
        1.0,
        ge=0,
        description="Seconds a clip's open file and record are reused by stream requests "
        "before the catalog is asked again (a deleted file is noticed at once); 0: no cache, "
        "every stream request goes through the route.",
    )
    signing_keys: SecretStr | None = Field(
        None,
        description="Keys for signed URLs of private clips, separated by commas, each at "
        "least 32 characters (e.g. `$(openssl rand -hex 32)`): the first signs, every one "
        "verifies, so a new key goes first and an old one stays until its URLs expire.",
    )
    speech_models: dict[str, Path] = Field(
        default_factory=dict,
        description='Speech model directories by language, as JSON (`{"es": "/srv/models/es"}`); '
        "each holds `acoustic/`, `words.dict` and `SHA256SUMS`. English is built in.",
    )
    align_timeout: float = Field(
        1800.0,
        gt=0,
        description="Seconds before aligning a clip's script to its speech is killed (the job "
        "is then retried; the clip itself is never held back or failed by it).",
    )
    automatic_captions: bool = Field(
        True,
        description="Whether a new clip (uploaded or imported) with no script gets automatic "
        "captions (speech recognition) queued, when a model for its language is installed.",
    )
    webhook_urls: str = Field(
        "",
        description="Endpoints that receive clip.ready, clip.failed, clip.deleted and "
        "captions.ready events, separated by commas; empty: no webhooks.",
        pattern=r"^\s*(https?://[^\s,]+\s*(,\s*https?://[^\s,]+\s*)*)?$",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="The Standard Webhooks signing secret (`whsec_` and base64, e.g. "
        "`whsec_$(openssl rand -base64 32)`); webhooks are sent only when it is set.",
    )
    webhook_timeout: float = Field(
        10.0, gt=0, le=120, description="Seconds one webhook delivery may take."
    )
    webhook_max_response_bytes: int = Field(
        64 * 1024, ge=0, description="Bytes of an endpoint's answer read at most (then cut)."
    )
    webhook_attempts: int = Field(
        6, ge=1, le=20, description="Delivery attempts per event and endpoint, the first included."
    )
    webhook_retry_delay: float = Field(
        30.0,
        ge=0,
        description="Seconds before the second attempt; each later wait is 4 times the one "
        "before (30 s, 2 min, 8 min, 32 min, 2 h 8 min with the defaults).",
    )
    webhook_retention: int = Field(
        7 * 24 * 3600,
        gt=0,
        description="Seconds delivery attempts stay visible in GET /api/webhooks/deliveries.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port of AMPS_HOST too, without the token (keep the "
        "port private); /metrics on the main port always needs the token (or loopback).",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`json`: one JSON object per log line, with the request id (from "
        "X-Request-ID or made up, and sent back in that header).",
    )
    host: str = Field("127.0.0.1", description="Address `amps serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `amps serve` listens on.")

    @property
    def embed_origin_list(self) -> list[str]:
        return self.embed_origins.split()

    @field_validator("signing_keys")
    @classmethod
    def _long_keys(cls, keys: SecretStr | None) -> SecretStr | None:
        """A short key can be guessed offline from one signed URL."""
        if keys is not None and any(len(key) < 32 for key in _split_keys(keys)):
            raise ValueError("give keys of at least 32 characters, separated by commas")
        return keys

    @property
    def signing_key_list(self) -> list[str]:
        return _split_keys(self.signing_keys) if self.signing_keys else []

    @field_validator("webhook_secret")
    @classmethod
    def _secret_is_base64(cls, secret: SecretStr | None) -> SecretStr | None:
        """Standard Webhooks secrets are base64; anything else would sign with garbage."""
        if secret is not None and not WEBHOOK_SECRET.fullmatch(secret.get_secret_value()):
            raise ValueError("give `whsec_` and at least 16 base64 characters")
        return secret

    @property
    def webhook_url_list(self) -> list[str]:
        return [url.strip() for url in self.webhook_urls.split(",") if url.strip()]

    @property
    def catalog_url(self) -> str:
        """The database URL, SQLite in the media dir unless one is set."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.media_dir / 'amps.sqlite3').resolve()}"
