"""DWPose (TorchScript) pose preprocessor: pure torch/numpy, no OpenCV.

Submodules: ``nms``, ``detect``, ``topdown``, ``keypoints``, ``render``, ``backends``.
See shared/reference/preprocessors.md §3.
"""
