"""Tests of the lock protocol of run_serialized.py, on an in-memory store."""

import unittest

from run_serialized import Serializer


class MemoryStore:
    """Objects with generations and ages; hooks let a test act mid-protocol."""

    def __init__(self):
        self.objects = {}  # name -> [generation, age]
        self.next_gen = 1
        self.before_delete = {}  # name -> callable run once before deleting name

    def create(self, name, data):
        if name in self.objects:
            return None
        return self.put(name, data)

    def put(self, name, data):
        self.next_gen += 1
        self.objects[name] = [self.next_gen, 0.0]
        return self.next_gen

    def stat(self, name):
        obj = self.objects.get(name)
        return None if obj is None else tuple(obj)

    def delete(self, name, generation=None):
        hook = self.before_delete.pop(name, None)
        if hook:
            hook()
        obj = self.objects.get(name)
        if obj is not None and (generation is None or obj[0] == generation):
            del self.objects[name]


class SerializerTest(unittest.TestCase):
    def setUp(self):
        self.store = MemoryStore()
        self.builds = 0
        self.during_build = None
        self.code = 0

    def build(self):
        self.builds += 1
        if self.during_build:
            hook, self.during_build = self.during_build, None
            hook()
        return self.code

    def serializer(self):
        return Serializer(self.store, "locks/dbt", 3600, self.build)

    def assert_idle(self):
        self.assertNotIn("locks/dbt.lock", self.store.objects, "lock left held")
        self.assertNotIn("locks/dbt.pending", self.store.objects, "request left pending")

    def test_alone_builds_once_and_releases(self):
        self.assertEqual(self.serializer().run(), 0)
        self.assertEqual(self.builds, 1)
        self.assert_idle()

    def test_lock_held_leaves_the_request_to_the_holder(self):
        self.store.create("locks/dbt.lock", "other")
        self.assertEqual(self.serializer().run(), 0)
        self.assertEqual(self.builds, 0)
        self.assertIn("locks/dbt.pending", self.store.objects)

    def test_request_during_a_build_builds_again(self):
        # A second execution arrives mid-build: it marks the request, fails
        # to take the lock and exits; the holder builds once more.
        def second_execution():
            self.assertEqual(self.serializer().run(), 0)

        self.during_build = second_execution
        self.assertEqual(self.serializer().run(), 0)
        self.assertEqual(self.builds, 2)
        self.assert_idle()

    def test_request_between_last_check_and_release_is_not_lost(self):
        # The second execution marks its request after the holder's last
        # check and finds the lock still held; the holder's check after
        # releasing picks the request up.
        def second_execution():
            self.assertEqual(self.serializer().run(), 0)

        self.store.before_delete["locks/dbt.lock"] = second_execution
        self.assertEqual(self.serializer().run(), 0)
        self.assertEqual(self.builds, 2)
        self.assert_idle()

    def test_stale_lock_is_taken_over(self):
        self.store.create("locks/dbt.lock", "crashed")
        self.store.objects["locks/dbt.lock"][1] = 7200.0
        self.assertEqual(self.serializer().run(), 0)
        self.assertEqual(self.builds, 1)
        self.assert_idle()

    def test_failed_build_releases_the_lock_and_fails(self):
        self.code = 2
        self.assertEqual(self.serializer().run(), 2)
        self.assertNotIn("locks/dbt.lock", self.store.objects)


if __name__ == "__main__":
    unittest.main()
