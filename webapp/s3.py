"""S3-compatible storage for drawings and model artifacts, behind one setting.

``S3_STORAGE_URL`` names the bucket, where it is and the key to it:

- ``https://KEY:SECRET@s3.example.org[:port]/bucket[?region=eu-west-1]``: an
  S3-compatible service (MinIO, Ceph, Garage, R2, ...), path-style addressing;
- ``s3://KEY:SECRET@bucket[?region=eu-west-1]``: Amazon S3 itself.

Drawings go under ``media/`` and model artifacts under ``artifacts/`` of the
bucket, through django-storages; every process then shares them without a
shared volume.  (No Django import here: settings.py calls it.)"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

BACKEND = "storages.backends.s3.S3Storage"


class S3UrlError(ValueError):
    pass


def s3_storages(url: str) -> dict[str, dict]:
    """The ``default`` (media) and ``artifacts`` entries of STORAGES for this bucket."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme in ("http", "https"):
        endpoint = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        bucket = parts.path.strip("/")
    elif parts.scheme == "s3":
        endpoint, bucket = None, parts.hostname or ""
    else:
        raise S3UrlError("S3_STORAGE_URL must start with https://, http:// or s3://")
    if not bucket or "/" in bucket:
        raise S3UrlError(
            "S3_STORAGE_URL must name one bucket: https://KEY:SECRET@host/bucket or s3://KEY:SECRET@bucket"
        )
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "access_key": unquote(parts.username) if parts.username else None,
        "secret_key": unquote(parts.password) if parts.password else None,
        "region_name": query.get("region", [None])[0],
        "addressing_style": "path" if endpoint else None,
        "default_acl": None,  # private objects; the app reads them, nobody links to them
        "file_overwrite": False,
    }
    return {
        "default": {"BACKEND": BACKEND, "OPTIONS": {**options, "location": "media"}},
        "artifacts": {"BACKEND": BACKEND, "OPTIONS": {**options, "location": "artifacts"}},
    }
