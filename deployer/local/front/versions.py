"""Publishing a version: what a deploy does before any traffic moves.

1. build the bundle (into `<state dir>/builds/<id>`), unless it was built from the same sources
   before (`deployer.local.front.sources.source_hash`): a version published from them lends its
   bundle as is, else the project's bundle cache (`sources.BundleCache`) gives it back; either
   way no interpreter search, no dependency copy, no byte-compiling;
2. compare its code hash (`deployer.bundle.bundle_hash`) and its configuration hash
   (`deployer.local.bundles.release.config_hash`) with the latest version's: nothing changed,
   nothing is published (as `UpdateFunctionCode` with the same zip and `PublishVersion` would not
   make a new version);
3. publish it into moto (`UpdateFunctionCode` only when moto's $LATEST holds other code, then
   `UpdateFunctionConfiguration`, `PublishVersion`: a configuration-only change uploads nothing),
   keep a new bundle under `<state dir>/versions/<number>` and record the version in the saved state;
4. write the deploy record into the request log (`deployer.ops.records.deploy_record_item`, the
   same record the AWS deploy writes; what `deployer debug` diffs);
5. warm the version: its worker starts and its agent loads during init (the emulator's
   provisioned concurrency), so no cold start lands in a bake, and a version that cannot load
   fails the deploy, not the traffic.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deployer.bundle import bundle_hash, default_cache_dir
from deployer.compiled import DeploymentModel
from deployer.local.bundles.release import BundleBuilder, Faults, config_hash
from deployer.local.bundles.workers import WorkerPool
from deployer.local.front.sources import BundleCache, source_hash
from deployer.local.state.moto_state import AwsState
from deployer.local.state.sink import TelemetrySink
from deployer.local.state.store import StateStore, VersionRecord
from deployer.ops.records import deploy_record_item


@dataclass(frozen=True)
class Publication:
    """The version a deploy published, or the latest one when nothing changed (`created` False)."""

    record: VersionRecord
    created: bool
    message: str


class VersionPublisher:
    """Builds, publishes, records and warms new versions of the function."""

    def __init__(self, *, store: StateStore, aws: AwsState, build: BundleBuilder, pool: WorkerPool,
                 sink: TelemetrySink, now: Callable[[], float]) -> None:
        self._store = store
        self._aws = aws
        self._build = build
        self._pool = pool
        self._sink = sink
        self._now = now

    def publish(self, model: DeploymentModel, faults: Faults, description: str) -> Publication:
        """A new version when code or configuration changed (warmed, recorded); else the latest one."""
        store = self._store
        sources = source_hash(model, self._build)
        built = self._built_from(sources)
        build: Path | None = None
        if built is not None:  # the same sources: the same bundle, no build
            bundle, code_hash = Path(built.bundle_dir), built.code_hash
        else:
            build = store.state_dir / "builds" / uuid.uuid4().hex[:8]
            cache = BundleCache(default_cache_dir(model) / "local-bundles")
            cached = cache.fetch(sources, build)
            if cached is not None:  # built from these sources before, by another emulator of the project
                bundle, code_hash = cached
            else:
                try:
                    bundle = self._build(model, build)
                except BaseException:
                    shutil.rmtree(build, ignore_errors=True)
                    raise
                code_hash = bundle_hash(bundle)[:16]  # the prefix a built bundle's directory is named with
                cache.keep(sources, build, bundle, code_hash)
        environment = {**model.function.environment, **faults.environment()}
        config = config_hash(model, environment)
        latest = store.state.latest
        if latest is not None and (latest.code_hash, latest.config_hash) == (code_hash, config):
            if build is not None:  # built for nothing: next time, these sources need no build either
                shutil.rmtree(build, ignore_errors=True)
                with store.lock:
                    latest.source_hash = sources
                store.persist()
            message = f"no changes: code and configuration match version {latest.version}"
            store.event("deploy", message, version=latest.version)
            return Publication(latest, False, message)
        description = description or f"spec {model.spec_hash[:12]} code {code_hash}"
        number = self._aws.publish_version(bundle, environment, description, code_hash=code_hash)
        bundle_dir = bundle
        if build is not None:
            final = store.state_dir / "versions" / number
            shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(build), str(final))
            bundle_dir = final / bundle.resolve().relative_to(build.resolve())
        record = VersionRecord(version=number, bundle_dir=str(bundle_dir), environment=environment,
                               code_hash=code_hash, config_hash=config, spec_hash=model.spec_hash,
                               created_at=self._now(), faults=faults.as_dict(), model=model.to_dict(),
                               description=description, source_hash=sources)
        with store.lock:
            store.state.versions.append(record)
        store.persist()
        store.event("publish", f"published version {number} ({description})"
                    + (f" with faults {faults.as_dict()}" if faults.as_dict() else ""), version=number)
        self._deploy_record(model, record)
        warm = self._pool.get(number)
        store.event("warm", f"version {number}: execution environment initialized in {warm.init_ms:.0f} ms "
                    "(agent loaded before any traffic)", version=number, init_ms=round(warm.init_ms, 1))
        return Publication(record, True, f"version {number} published")

    def _built_from(self, sources: str) -> VersionRecord | None:
        """The newest version whose bundle was built from `sources` and is still on disk."""
        with self._store.lock:
            versions = list(self._store.state.versions)
        return next((v for v in reversed(versions)
                     if v.source_hash == sources and Path(v.bundle_dir).is_dir()), None)

    def _deploy_record(self, model: DeploymentModel, record: VersionRecord) -> None:
        """Sent with the sink's next batch: the request path never waits on moto."""
        self._sink.add_item(deploy_record_item(model, record.version, record.code_hash, record.model,
                                               faults=record.faults))

