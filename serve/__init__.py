"""Ray Serve model deployments on onnxruntime: the YOLO-format Detector and the PP-OCR PlateReader."""
