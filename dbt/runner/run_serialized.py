"""Runs dbt so that two executions of the transform job never overlap.

LoadRawObject starts the Cloud Run job once per loaded object, and the
products and users of a day load seconds apart, so executions can start
together. Two dbt builds at once would merge into the same tables. This
wrapper serialises them with a lock object in Cloud Storage and loses no
request:

  1. every execution first writes a "pending" marker: a build is wanted;
  2. while the marker exists, it takes the lock (an object created only if
     absent) or, if another execution holds it, exits: the holder sees the
     marker after its build and builds again;
  3. the holder deletes the marker before each build and releases the lock
     when no marker is left, then checks once more, which closes the window
     between its last check and the release.

A lock older than SHOPLAKE_LOCK_TTL seconds (a crashed holder) is taken over.

    python run_serialized.py build --target prod ...   (the arguments go to dbt)

Environment: SHOPLAKE_LOCK_BUCKET (no bucket: dbt runs directly, as locally),
SHOPLAKE_LOCK_PREFIX (default "locks/dbt"), SHOPLAKE_LOCK_TTL (default 3600).
"""

import datetime
import json
import logging
import os
import subprocess
import sys

log = logging.getLogger("run_serialized")


class GCSStore:
    """The three object operations the lock needs, on a Cloud Storage bucket."""

    def __init__(self, bucket):
        from google.api_core.exceptions import NotFound, PreconditionFailed  # only in the image
        from google.cloud import storage

        self._bucket = storage.Client().bucket(bucket)
        self._not_found, self._precondition = NotFound, PreconditionFailed

    def create(self, name, data):
        """Creates name if it does not exist; returns its generation or None."""
        blob = self._bucket.blob(name)
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except self._precondition:
            return None
        return blob.generation

    def put(self, name, data):
        self._bucket.blob(name).upload_from_string(data)

    def stat(self, name):
        """Returns (generation, age in seconds) of name, or None."""
        blob = self._bucket.get_blob(name)
        if blob is None:
            return None
        age = datetime.datetime.now(datetime.timezone.utc) - blob.time_created
        return blob.generation, age.total_seconds()

    def delete(self, name, generation=None):
        """Deletes name (only that generation, when given); absent is fine."""
        try:
            self._bucket.blob(name).delete(if_generation_match=generation)
        except (self._not_found, self._precondition):
            pass


class Serializer:
    """Runs build() under the lock protocol described above."""

    def __init__(self, store, prefix, ttl, build):
        self.store, self.ttl, self.build = store, ttl, build
        self.lock, self.pending = prefix + ".lock", prefix + ".pending"

    def acquire(self):
        """Takes the lock; returns its generation, or None if it is held."""
        body = json.dumps({"execution": os.environ.get("CLOUD_RUN_EXECUTION", "local")})
        gen = self.store.create(self.lock, body)
        if gen is not None:
            return gen
        held = self.store.stat(self.lock)
        if held is not None and held[1] > self.ttl:
            log.warning("lock %s is %.0fs old: taking it over", self.lock, held[1])
            self.store.delete(self.lock, generation=held[0])
            return self.store.create(self.lock, body)
        return None

    def run(self):
        """Returns the exit code: dbt's, or 0 when another execution builds."""
        self.store.put(self.pending, "")
        while self.store.stat(self.pending) is not None:
            gen = self.acquire()
            if gen is None:
                log.info("another execution holds %s and will build again for this request", self.lock)
                return 0
            try:
                while self.store.stat(self.pending) is not None:
                    self.store.delete(self.pending)
                    code = self.build()
                    if code != 0:
                        return code
            finally:
                self.store.delete(self.lock, generation=gen)
        return 0


def main(args):
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def build():
        return subprocess.call(["dbt", *args])

    bucket = os.environ.get("SHOPLAKE_LOCK_BUCKET", "")
    if not bucket:
        return build()
    store = GCSStore(bucket)
    prefix = os.environ.get("SHOPLAKE_LOCK_PREFIX", "locks/dbt")
    ttl = float(os.environ.get("SHOPLAKE_LOCK_TTL", "3600"))
    return Serializer(store, prefix, ttl, build).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
