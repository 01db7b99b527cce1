"""DWPose (TorchScript) pose preprocessor: pure torch/numpy, no OpenCV.

Submodules: ``nms``, ``detect``, ``topdown``, ``keypoints``, ``render``, ``backends``.
Reference: DWPose as comfyui_controlnet_aux runs it (github.com/Fannovel16/comfyui_controlnet_aux, src/custom_controlnet_aux/dwpose).
"""
