"""Publish a stack's file assets (Lambda bundles, the template) as the CDK CLI would.

Reads `<cdk.out>/<stack>.assets.json`, zips directory assets deterministically (sorted entries,
fixed timestamps, so the same bundle always gives the same bytes) and uploads each object once
to its destination in the CDK bootstrap bucket.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deployer.aws.s3 import Objects
from deployer.errors import DeployerError

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class FileAsset:
    source: Path
    packaging: str  # "zip" (a directory) or "file"
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"https://s3.{region_of(self.bucket)}.amazonaws.com/{self.bucket}/{self.key}"


def region_of(bucket: str) -> str:
    """The region at the end of a bootstrap bucket name (`cdk-<q>-assets-<account>-<region>`)."""
    parts = bucket.split("-assets-", 1)[-1].split("-", 1)
    return parts[1] if len(parts) == 2 else "us-east-1"


def read_assets(out_dir: Path, stack: str, *, account: str, region: str) -> list[FileAsset]:
    manifest_file = out_dir / f"{stack}.assets.json"
    if not manifest_file.exists():
        raise DeployerError(f"{manifest_file} is missing", hint="synthesize first (`deployer synth`)")
    manifest = json.loads(manifest_file.read_text())
    assets = []
    for entry in manifest.get("files", {}).values():
        for destination in entry.get("destinations", {}).values():
            def fill(text: str) -> str:
                return (text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region)
                        .replace("${AWS::Partition}", "aws"))

            assets.append(FileAsset(out_dir / entry["source"]["path"], entry["source"].get("packaging", "file"),
                                    fill(destination["bucketName"]), fill(destination["objectKey"])))
    if manifest.get("dockerImages"):
        raise DeployerError(f"{stack} has container image assets, which this deploy path does not publish")
    return assets


def zip_directory(root: Path) -> bytes:
    """A reproducible zip of `root`: sorted entries, fixed timestamps, modes kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for directory, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = Path(directory) / name
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_TIME)
                info.external_attr = ((0o755 if os.access(path, os.X_OK) else 0o644) | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def publish(objects: Objects, assets: list[FileAsset]) -> int:
    """Upload every asset not already in its bucket; returns how many were uploaded."""
    uploaded = 0
    for bucket in sorted({a.bucket for a in assets}):
        objects.require_bucket(bucket)
    for asset in assets:
        if objects.exists(asset.bucket, asset.key):
            continue
        if asset.packaging == "zip":
            objects.put(asset.bucket, asset.key, zip_directory(asset.source), "application/zip")
        else:
            content_type = "application/json" if asset.source.suffix == ".json" else "application/octet-stream"
            objects.put(asset.bucket, asset.key, asset.source.read_bytes(), content_type)
        uploaded += 1
    return uploaded


def template_asset(assets: list[FileAsset], stack: str) -> FileAsset:
    for asset in assets:
        if asset.source.name == f"{stack}.template.json":
            return asset
    raise DeployerError(f"the asset manifest of {stack} lists no template")
