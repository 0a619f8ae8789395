"""In-memory stand-ins for the adapters that moto cannot emulate (Rekognition collections, KVS
GetImages), with the same interfaces and Rekognition-shaped answers. Scriptable per test."""

from tests.fakes.face_engine import FakeFaceEngine
from tests.fakes.images import make_jpeg
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.video_frames import FakeVideoFrames

__all__ = ["FakeFaceEngine", "FakeLambdaContext", "FakeVideoFrames", "make_jpeg"]
