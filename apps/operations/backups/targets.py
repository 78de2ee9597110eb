"""Where pieces go: a local directory, or an S3-compatible object store.

Writes are streamed (chunks in, never the whole piece in memory) and become
visible only when complete: a file is renamed from ``.part``, a multipart
upload is completed only after its last part (and aborted on any error), so
a partial upload never counts.
"""

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

CHUNK = 1 << 20
# An endpoint that is down fails the run within seconds instead of retrying for minutes.
S3_CLIENT = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=120)


class TargetError(Exception):
    """The target cannot be reached or written (one line for the operator)."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


def _close(chunks):
    """Stop the producer of the chunks (a pg_dump stops at once instead of blocking on a full pipe)."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


class LocalTarget:
    def __init__(self, root):
        self.root = Path(root)
        self.url = str(self.root)

    def put(self, name, chunks):
        """Store the chunks as ``name``; (size, sha256 hex)."""
        path = self.root / name
        partial = path.with_name(path.name + ".part")
        digest, size = hashlib.sha256(), 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            partial.replace(path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            _close(chunks)
            raise TargetError(f"cannot write {path}: {error.strerror or error}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            _close(chunks)
            raise
        return size, digest.hexdigest()

    def path_of(self, name):
        return self.root / name

    def read(self, name):
        try:
            with open(self.root / name, "rb") as source:
                while chunk := source.read(CHUNK):
                    yield chunk
        except OSError as error:
            raise TargetError(f"cannot read {self.root / name}: {error.strerror or error}") from None

    def delete(self, name):
        (self.root / name).unlink(missing_ok=True)

    def names(self, prefix=""):
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and p.suffix != ".part")


class S3Target:
    def __init__(self, url):
        parts = urlsplit(url)
        self.url, self.bucket, self.prefix = url, parts.netloc, parts.path.strip("/")
        # A session of its own: the credentials are read from the environment now, not cached from the first.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.KIRBY_BACKUP_S3_ENDPOINT_URL or None,
            region_name=settings.KIRBY_BACKUP_S3_REGION,
            config=S3_CLIENT,
        )

    def _key(self, name):
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name, chunks):
        key, part_size = self._key(name), settings.KIRBY_BACKUP_PART_MB << 20
        digest, size, parts, buffer = hashlib.sha256(), 0, [], bytearray()
        try:
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        except Exception as error:
            _close(chunks)
            raise TargetError(f"cannot reach s3://{self.bucket}: {error}") from None

        def send(data):
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=len(parts) + 1, Body=bytes(data)
            )
            parts.append({"ETag": answer["ETag"], "PartNumber": len(parts) + 1})

        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= part_size:
                    send(buffer)
                    buffer.clear()
            if buffer or not parts:
                send(buffer)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException as error:
            _close(chunks)
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            except Exception:  # the endpoint went away: an upload never completed is not an object
                pass
            if isinstance(error, BotoCoreError | ClientError):  # a failing producer (pg_dump) speaks for itself
                raise TargetError(f"upload of s3://{self.bucket}/{key} failed: {error}") from None
            raise
        return size, digest.hexdigest()

    def read(self, name):
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except Exception as error:
            raise TargetError(f"cannot read s3://{self.bucket}/{self._key(name)}: {error}") from None
        try:
            while chunk := body.read(CHUNK):
                yield chunk
        except Exception as error:
            raise TargetError(f"cannot read s3://{self.bucket}/{self._key(name)}: {error}") from None

    def delete(self, name):
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as error:
            raise TargetError(f"cannot delete s3://{self.bucket}/{self._key(name)}: {error}") from None

    def names(self, prefix=""):
        found = []
        start = self._key(prefix)
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    found.append(item["Key"][len(self.prefix) + 1 :] if self.prefix else item["Key"])
        except Exception as error:
            raise TargetError(f"cannot list s3://{self.bucket}/{start}: {error}") from None
        return sorted(found)


def target_from(url=None):
    url = url or settings.KIRBY_BACKUP_TARGET
    return S3Target(url) if url.startswith("s3://") else LocalTarget(url)
